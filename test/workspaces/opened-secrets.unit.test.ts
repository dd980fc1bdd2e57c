import { describe, expect, it } from 'vitest';
import { aesKey, open, seal } from '../../src/identity/tokens/crypto.ts';
import { openedSecrets } from '../../src/workspaces/opened-secrets.ts';

describe('openedSecrets', () => {
  it('opens a sealed value once, opens a value sealed again afresh, and never keeps one that failed', async () => {
    const kek = await aesKey(crypto.getRandomValues(new Uint8Array(32)));
    const opens: string[] = [];
    const sealer = {
      open: (sealed: string, context: string) => {
        opens.push(sealed);
        return open(kek, sealed, context);
      },
    };
    const opened = openedSecrets(sealer, 2);
    const first = await seal(kek, 'key-one', 'agent a');
    expect(await opened(first, 'agent a')).toBe('key-one');
    expect(await opened(first, 'agent a')).toBe('key-one');
    expect(opens).toEqual([first]);
    // Re-enrolled: a new sealed value, opened afresh (the old answer is never given for it).
    const second = await seal(kek, 'key-two', 'agent a');
    expect(await opened(second, 'agent a')).toBe('key-two');
    expect(opens).toEqual([first, second]);
    // The context is part of the key: the same text under another context does not open.
    await expect(opened(first, 'agent b')).rejects.toThrow();
    await expect(opened(first, 'agent b')).rejects.toThrow();
    expect(opens.filter((s) => s === first)).toHaveLength(3);
    // Bounded: a third value pushes the oldest out, which is opened again when asked.
    await opened(await seal(kek, 'key-three', 'agent c'), 'agent c');
    await opened(first, 'agent a');
    expect(opens.filter((s) => s === first)).toHaveLength(4);
  });
});
