import fc from 'fast-check';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { digestsOf } from '../../../src/packages/registry/integrity.ts';
import { publishDocument, takesLatest } from '../../../src/packages/registry/publish-document.ts';

describe('which version takes the latest tag', () => {
  it.each([
    ['1.0.0', undefined, true],
    ['1.0.0', 'not-a-version', true],
    ['2.0.0', '1.9.9', true],
    ['1.0.0', '2.0.0', false],
    ['1.0.0', '1.0.0', false],
    ['3.0.0-beta.1', '2.0.0', false],
    ['2.0.0', '3.0.0-beta.1', true],
    ['3.0.0-beta.2', '3.0.0-beta.1', true],
    ['3.0.0-beta.1', undefined, true],
  ] as const)('%s over latest %s: %s', (version, current, expected) => {
    expect(takesLatest(version, current)).toBe(expected);
  });

  it('publishing versions in any order leaves latest on the highest stable one, when there is one', () => {
    const versionArb = fc
      .tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.option(fc.nat(2), { nil: undefined }))
      .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === undefined ? '' : `-rc.${pre}`}`);
    fc.assert(
      fc.property(fc.array(versionArb, { minLength: 1, maxLength: 12 }), (versions) => {
        let latest: string | undefined;
        for (const v of versions) if (takesLatest(v, latest)) latest = v;
        const stable = versions.filter((v) => semver.prerelease(v) === null);
        const expected = stable.length > 0 ? semver.rsort([...stable])[0] : semver.rsort([...versions])[0];
        expect(latest).toBe(expected);
      }),
    );
  });
});

describe('the publish document', () => {
  it('carries the tarball’s package.json, the digests of the bytes, the tag, and the bytes as base64', async () => {
    const tarball = new TextEncoder().encode('bytes');
    const { integrity, shasum } = await digestsOf(tarball);
    const document = publishDocument({
      base: 'http://target/',
      name: '@acme/x',
      version: '1.0.0',
      manifest: { name: '@acme/x', version: '1.0.0', description: 'd', dependencies: { a: '^1' } },
      tarball,
      integrity,
      shasum,
      tag: 'latest',
    });
    expect(document).toEqual({
      _id: '@acme/x',
      name: '@acme/x',
      description: 'd',
      'dist-tags': { latest: '1.0.0' },
      versions: {
        '1.0.0': {
          _id: '@acme/x@1.0.0',
          name: '@acme/x',
          version: '1.0.0',
          description: 'd',
          dependencies: { a: '^1' },
          dist: { integrity, shasum, tarball: 'http://target/@acme/x/-/x-1.0.0.tgz' },
        },
      },
      access: null,
      _attachments: {
        '@acme/x-1.0.0.tgz': { content_type: 'application/octet-stream', data: 'Ynl0ZXM=', length: 5 },
      },
    });
  });

  it('lets no field of the package.json override the version, name or digests', async () => {
    const tarball = new TextEncoder().encode('bytes');
    const { integrity, shasum } = await digestsOf(tarball);
    const document = publishDocument({
      base: 'http://target/',
      name: 'x',
      version: '1.0.0',
      manifest: { name: 'y', version: '9.9.9', _id: 'y@9.9.9', dist: { integrity: 'sha512-forged' } },
      tarball,
      integrity,
      shasum,
      tag: 'latest',
    }) as { versions: Record<string, Record<string, unknown>> };
    expect(document.versions['1.0.0']).toMatchObject({
      _id: 'x@1.0.0',
      name: 'x',
      version: '1.0.0',
      dist: { integrity, shasum },
    });
  });
});
