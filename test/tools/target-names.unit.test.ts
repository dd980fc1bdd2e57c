import { describe, expect, it } from 'vitest';
import { dnsLookupTool, systemResolve, TargetRefusedError, targetChecker } from '../../src/tools/index.ts';

/** A resolver that answers from a table and keeps every name it was asked. */
function recordingResolve(table: Record<string, string[]>) {
  const asked: string[] = [];
  const resolve = async (host: string) => {
    asked.push(host);
    return table[host] ?? [];
  };
  return { asked, resolve };
}

describe('target names', () => {
  it('are handed to the resolver as absolute names, so no search domain is appended', async () => {
    const { asked, resolve } = recordingResolve({
      'api.example.com.': ['10.1.2.3'],
      'x.example.net.': ['10.9.9.9'],
    });
    const check = targetChecker(['api.example.com', '10.0.0.0/8'], resolve);
    expect(await check.check('https://api.example.com:8443/x')).toBe('10.1.2.3');
    expect(await check.check('x.example.net.')).toBe('10.9.9.9');
    expect(asked).toEqual(['api.example.com.', 'x.example.net.']);
  });

  it('refuses a single-label name even where an allowlist stored before lists it, resolving nothing', async () => {
    const { asked, resolve } = recordingResolve({ 'db.': ['10.0.0.5'], db: ['10.0.0.5'] });
    const check = targetChecker(['db', 'localhost', '10.0.0.0/8'], resolve);
    for (const target of ['db', 'db.', 'db:5432', 'http://db/', 'localhost']) {
      await expect(check.check(target), target).rejects.toThrow(TargetRefusedError);
      await expect(check.check(target), target).rejects.toThrow(/fully qualified/);
    }
    expect(asked).toEqual([]);
    // A run queued with one before is refused when it starts.
    expect(() => check.recheck('db', '10.0.0.5')).toThrow(/fully qualified/);
  });

  it('are asked of the DNS absolute by dns-lookup too', async () => {
    const asked: string[] = [];
    const tool = dnsLookupTool(() => ({
      resolve: async (name: string) => {
        asked.push(name);
        return ['192.0.2.1'];
      },
      cancel: () => undefined,
    }));
    await tool.run({
      parameters: { name: 'www.example.com', types: ['A', 'TXT'] },
      address: null,
      signal: new AbortController().signal,
      output: { write: () => undefined, progress: () => undefined },
      processes: { run: () => Promise.reject(new Error('none')) },
      advisories: async () => [],
      checkTarget: () => Promise.reject(new Error('none')),
      mayReach: () => true,
    });
    expect(asked).toEqual(['www.example.com.', 'www.example.com.']);
  });

  it('under localhost. are the loopback addresses, never asked of the DNS (RFC 6761)', async () => {
    expect(await systemResolve('app.localhost.')).toEqual(['127.0.0.1', '::1']);
    expect(await systemResolve('A.B.LOCALHOST.')).toEqual(['127.0.0.1', '::1']);
  });
});
