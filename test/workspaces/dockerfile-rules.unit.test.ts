import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { contextDockerfile } from '../../src/workspaces/agent/context-dockerfile.ts';
import { forbiddenInstruction } from '../../src/workspaces/agent/dockerfile-rules.ts';
import { paxRecord, type RawEntry, rawTar } from '../support/raw-tar.ts';

describe('what a tenant’s Dockerfile may not do on the agent’s host', () => {
  it('refuses ADD of a URL, a git remote or a variable, however it is spelled', () => {
    const refused = [
      'FROM base\nADD http://127.0.0.1:7070/v1/system /x\n',
      'FROM base\nadd https://169.254.169.254/latest/meta-data/ /x\n',
      'FROM base\nADD --chown=1:1 http://127.0.0.1/ /x\n',
      'FROM base\nADD ["http://127.0.0.1/", "/x"]\n',
      'FROM base\nADD --chmod=644 ["http:\\u002f\\u002f127.0.0.1/", "/x"]\n',
      'FROM base\nADD ht\\\ntp://127.0.0.1/ /x\n',
      'FROM base\nADD http:/\\  \n/127.0.0.1/ /x\n',
      'FROM base\nADD "http"://127.0.0.1/ /x\n',
      'FROM base\nADD h\\ttp:\\/\\/127.0.0.1/ /x\n',
      '# escape=`\nFROM base\nADD ht`\ntp://127.0.0.1/ /x\n',
      'FROM base\nADD \\\n# a comment in between\n  http://127.0.0.1/ /x\n',
      'FROM base\nARG U=http://127.0.0.1/\nADD $U /x\n',
      `FROM base\nADD \${U} /x\n`,
      'FROM base\nADD git@example.com:team/repo.git /x\n',
      'FROM base\nONBUILD ADD http://127.0.0.1/ /x\n',
      '\uFEFFFROM base\r\nADD http://127.0.0.1/ /x\r\n',
    ];
    for (const dockerfile of refused) {
      expect({ dockerfile, refused: forbiddenInstruction(dockerfile) !== undefined }).toEqual({
        dockerfile,
        refused: true,
      });
    }
  });

  it('lets local ADDs, COPY and URLs elsewhere through', () => {
    const allowed = [
      'FROM base\nADD app.tar /opt/\nCOPY hello.txt /www/\n',
      'FROM base\nADD --chown=1:1 ["a b.txt", "/x/"]\n',
      'FROM base\nADD app /home/$USER/app\n',
      'FROM base\n# ADD http://127.0.0.1/ /x\nRUN wget http://example.com/ || true\n',
      'FROM base\nLABEL url=http://example.com\n',
    ];
    for (const dockerfile of allowed) expect(forbiddenInstruction(dockerfile)).toBeUndefined();
  });
});

describe('the Dockerfile the engine reads from a staged context', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wdf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const staged = (bytes: Uint8Array) => {
    const path = join(dir, `${n++}.tar`);
    writeFileSync(path, bytes);
    return path;
  };
  const read = (entries: RawEntry[], dockerfile = 'Dockerfile', trailer?: Uint8Array) =>
    contextDockerfile(staged(rawTar(entries, trailer)), dockerfile);
  const good = 'FROM base\n';
  const bad = 'FROM base\nADD http://127.0.0.1/ /x\n';

  it('reads the last entry at the Dockerfile’s path, named as the engine names it', async () => {
    expect(await read([{ path: './Dockerfile', content: good }])).toBe(good);
    expect(await read([{ path: 'dockerfile', content: good }])).toBe(good);
    expect(
      await read([
        { path: 'Dockerfile', content: good },
        { path: 'Dockerfile', content: bad },
      ]),
    ).toBe(bad);
    expect(
      await read([
        { path: 'Dockerfile', content: good },
        { path: 'PaxHeaders/x', type: 'x', content: paxRecord('path', 'Dockerfile') },
        { path: 'other', content: bad },
      ]),
    ).toBe(bad);
    expect(
      await read([
        { path: 'Dockerfile', content: good },
        { path: '././@LongLink', type: 'L', content: 'Dockerfile\0' },
        { path: '././@LongLink', type: 'K', content: 'elsewhere\0' },
        { path: 'other', content: bad },
      ]),
    ).toBe(bad);
    expect(await read([{ path: 'Dockerfile', prefix: 'build', content: bad }], 'build/Dockerfile')).toBe(bad);
    // A symbolic link's size field is ignored: no data follows it, the next header does.
    expect(
      await read([
        { path: 'Dockerfile', content: good },
        { path: 'link', type: '2', linkpath: 'x', content: '' },
        { path: 'Dockerfile', content: bad },
      ]),
    ).toBe(bad);
    // Without the closing blocks the engine's reader ends at the last entry.
    expect(await read([{ path: 'Dockerfile', content: good }], 'Dockerfile', new Uint8Array(0))).toBe(good);
  });

  it('reads past what one read of the file takes in: after a large entry, through many small ones, and a Dockerfile larger than the read', async () => {
    const big = new Uint8Array(200 * 1024).fill(0x61);
    expect(
      await read([
        { path: 'big.bin', content: big },
        { path: 'Dockerfile', content: good },
      ]),
    ).toBe(good);
    const many = Array.from({ length: 300 }, (_, i) => ({ path: `f${i}`, content: 'x' }));
    expect(
      await read([{ path: 'Dockerfile', content: good }, ...many, { path: 'Dockerfile', content: bad }]),
    ).toBe(bad);
    const long = `FROM base\n${'# padding\n'.repeat(8000)}`;
    expect(
      await read([
        { path: 'big.bin', content: big },
        { path: 'Dockerfile', content: long },
      ]),
    ).toBe(long);
    // Cut short beyond the first read: the last entry's data ends early.
    const cut = rawTar([
      { path: 'Dockerfile', content: good },
      { path: 'big.bin', content: big },
    ]);
    await expect(
      contextDockerfile(staged(cut.subarray(0, cut.length - 4096)), 'Dockerfile'),
    ).rejects.toMatchObject({
      status: 422,
    });
  });

  it('finds the last Dockerfile entry of any context, whatever the sizes of the entries around it', async () => {
    const entry = fc.record({
      path: fc.constantFrom('Dockerfile', 'other', 'sub/file'),
      size: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 60_000, max: 140_000 })),
      fill: fc.integer({ min: 0x61, max: 0x7a }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 8 }), async (entries) => {
        const raw = entries.map((e) => ({
          path: e.path,
          content: String.fromCharCode(e.fill).repeat(e.size),
        }));
        const last = raw.filter((e) => e.path === 'Dockerfile').at(-1);
        const found = read(raw).then(
          (text) => ({ text }),
          (error: { status?: number }) => ({ status: error.status }),
        );
        expect(await found).toEqual(last ? { text: last.content } : { status: 422 });
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a linked Dockerfile or folder, a path out of the context, sparse entries and compressed contexts', async () => {
    await expect(
      read([
        { path: 'evil', content: bad },
        { path: 'Dockerfile', type: '1', linkpath: 'evil' },
      ]),
    ).rejects.toMatchObject({ status: 422 });
    await expect(
      read(
        [
          { path: 'sub/Dockerfile', content: good },
          { path: 'sub', type: '2', linkpath: 'other' },
        ],
        'sub/Dockerfile',
      ),
    ).rejects.toMatchObject({ status: 422 });
    await expect(read([{ path: 'Dockerfile', content: good }], '../Dockerfile')).rejects.toMatchObject({
      status: 422,
    });
    await expect(
      read([
        { path: 'PaxHeaders/x', type: 'x', content: paxRecord('GNU.sparse.name', 'Dockerfile') },
        { path: 'other', content: bad },
      ]),
    ).rejects.toMatchObject({ status: 422 });
    await expect(read([{ path: 'other', content: good }])).rejects.toMatchObject({ status: 422 });
    // A tar header whose name opens with gzip's magic: the engine would decompress what follows.
    const polyglot = rawTar([{ path: 'Dockerfile', content: good }]);
    polyglot.set([0x1f, 0x8b, 0x08], 0);
    polyglot.fill(0x20, 148, 156);
    const sum = polyglot.subarray(0, 512).reduce((a, b) => a + b, 0);
    polyglot.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    await expect(contextDockerfile(staged(polyglot), 'Dockerfile')).rejects.toMatchObject({ status: 422 });
  });
});
