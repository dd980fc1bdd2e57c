import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as pacote from 'pacote';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryError } from '../../../src/packages/registry/errors.ts';
import { inspectTarball } from '../../../src/packages/registry/tarball.ts';
import { gzip } from '../../support/fixture-packages.ts';
import { paxRecord, type RawEntry, rawTar } from '../../support/raw-tar.ts';

/** Segments that npm's extractor (pacote → node-tar, `strip: 1`) resolves in surprising ways. */
const segment = fc.constantFrom(
  'package',
  'package.json',
  'binding.gyp',
  'lib',
  '.',
  '',
  '..',
  '\\',
  'c:',
  'C:package.json',
  'x\\package.json',
  '\\package.json',
  '\\\\srv\\share\\package.json',
  'PACKAGE.JSON',
  'package.json.',
  'Package.Json ',
  '?',
);
const entryPath = fc
  .tuple(fc.constantFrom('', '/', './', '//'), fc.array(segment, { minLength: 1, maxLength: 4 }))
  .map(([lead, parts]) => `${lead}${parts.join('/')}`)
  .filter((path) => new TextEncoder().encode(path).length <= 100);

/** How an entry names its path: its own header, a PAX header, a GNU long name, or the ustar prefix. */
const entry = fc.record({
  path: entryPath,
  via: fc.constantFrom('header', 'header', 'header', 'pax', 'pax-global', 'long-name', 'prefix'),
  kind: fc.constantFrom('file', 'file', 'file', 'folder', 'symlink'),
});
type GeneratedEntry = typeof entry extends fc.Arbitrary<infer T> ? T : never;

const manifestNumbered = (n: number) => JSON.stringify({ name: 'diff', version: '1.0.0', n });

function toRaw(generated: GeneratedEntry, n: number): RawEntry[] {
  const { path, via, kind } = generated;
  const body: Omit<RawEntry, 'path'> =
    kind === 'folder'
      ? { type: '5' }
      : kind === 'symlink'
        ? { type: '2', linkpath: 'evil.json' }
        : { content: manifestNumbered(n) };
  switch (via) {
    case 'pax':
      return [
        { path: 'PaxHeader', type: 'x', content: paxRecord('path', path) },
        { path: `package/decoy-${n}`, ...body },
      ];
    case 'pax-global':
      // node-tar ignores a path in a global header: the entry keeps its own.
      return [
        { path: 'GlobalHead', type: 'g', content: paxRecord('path', path) },
        { path: `package/decoy-${n}`, ...body },
      ];
    case 'long-name':
      return [
        { path: '././@LongLink', type: 'L', content: `${path}\0` },
        { path: `package/decoy-${n}`, ...body },
      ];
    case 'prefix': {
      const cut = path.indexOf('/');
      return cut <= 0
        ? [{ path, ...body }]
        : [{ prefix: path.slice(0, cut), path: path.slice(cut + 1) || '.', ...body }];
    }
    default:
      return [{ path, ...body }];
  }
}

const isFile = (path: string) =>
  stat(path).then(
    (s) => s.isFile(),
    () => false,
  );

describe('Warden reads the package.json npm installs (differential against pacote and node-tar)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-tar-diff-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('whenever Warden accepts a tarball, npm extracts exactly the package.json Warden scanned, and any root binding.gyp is reported', async () => {
    const seen = { accepted: 0, refused: 0 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        async (extra, cleanFirst, afterEnd) => {
          run++;
          const entries: RawEntry[] = [];
          if (cleanFirst) entries.push({ path: 'package/package.json', content: manifestNumbered(0) });
          extra.forEach((generated, i) => {
            entries.push(...toRaw(generated, i + 1));
          });
          if (!cleanFirst) entries.push({ path: 'package/package.json', content: manifestNumbered(0) });
          const trailer = afterEnd
            ? new Uint8Array([
                ...new Uint8Array(512),
                ...rawTar([{ path: 'package/package.json', content: manifestNumbered(99) }]),
              ])
            : undefined;
          const tgz = await gzip(rawTar(entries, trailer));

          const warden = await inspectTarball(new Blob([tgz as BlobPart]).stream(), 10_000_000).then(
            (summary) => summary,
            (error: unknown) => {
              if (!(error instanceof RegistryError)) throw error;
              return undefined;
            },
          );
          if (!warden) {
            seen.refused++;
            return;
          }
          seen.accepted++;
          const file = join(dir, `p${run}.tgz`);
          const dest = join(dir, `x${run}`);
          await writeFile(file, tgz);
          await pacote.extract(`file:${file}`, dest, { cache: join(dir, 'cache') });
          const installed = JSON.parse(await readFile(join(dest, 'package.json'), 'utf8')) as unknown;
          expect(installed).toEqual(warden.manifest);
          if (await isFile(join(dest, 'binding.gyp'))) expect(warden.bindingGyp).toBe(true);
          await rm(dest, { recursive: true, force: true });
        },
      ),
      { numRuns: 300 },
    );
    // The property says something only if both outcomes happen often.
    expect(seen.accepted).toBeGreaterThan(30);
    expect(seen.refused).toBeGreaterThan(30);
  }, 120_000);
});
