import fc from 'fast-check';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import {
  type AllowedVersion,
  decisionOf,
  highestVersion,
  type Packument,
  parseTarballPath,
  tenantPackument,
} from '../../../src/packages/registry/view.ts';

const url = (version: string) => `https://warden.test/t/a/npm/p/-/p-${version}.tgz`;
const sri = (n: number) => `sha512-${String(n).padStart(4, '0')}`;

const source = (versions: Record<string, number>, tags: Record<string, string> = {}): Packument => ({
  _id: 'p',
  name: 'p',
  description: 'a package',
  _attachments: { 'p-1.0.0.tgz': { data: 'AAAA' } },
  'dist-tags': tags,
  versions: Object.fromEntries(
    Object.entries(versions).map(([v, n]) => [
      v,
      {
        name: 'p',
        version: v,
        dist: { tarball: `https://secure.test/p/-/p-${v}.tgz`, integrity: sri(n), shasum: `sha1-${n}` },
      },
    ]),
  ),
  time: {
    created: '2026-01-01T00:00:00.000Z',
    modified: '2026-01-02T00:00:00.000Z',
    ...Object.fromEntries(Object.keys(versions).map((v) => [v, '2026-01-01T00:00:00.000Z'])),
  },
});

const versionArb = fc
  .tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.option(fc.constantFrom('alpha.1', 'rc.0'), { nil: undefined }))
  .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre ? `-${pre}` : ''}`);

describe('tenantPackument', () => {
  it('keeps only the versions the tenant let in, points their tarballs at the view and recomputes latest', () => {
    const view = tenantPackument(
      source({ '1.0.0': 1, '1.1.0': 2, '2.0.0': 3 }, { latest: '2.0.0', next: '1.1.0' }),
      [
        { version: '1.0.0', integrity: sri(1) },
        { version: '1.1.0', integrity: sri(2) },
      ],
      url,
    );
    expect(Object.keys(view.versions as object)).toEqual(['1.0.0', '1.1.0']);
    expect(view['dist-tags']).toEqual({ latest: '1.1.0', next: '1.1.0' });
    expect((view.versions as Record<string, { dist: unknown }>)['1.0.0']?.dist).toEqual({
      tarball: url('1.0.0'),
      integrity: sri(1),
      shasum: 'sha1-1',
    });
    expect(Object.keys(view.time as object)).toEqual(['created', 'modified', '1.0.0', '1.1.0']);
    expect(view._attachments).toBeUndefined();
    expect(view.description).toBe('a package');
  });

  it('leaves out a version the source holds with bytes other than the ones recorded', () => {
    const view = tenantPackument(source({ '1.0.0': 1 }), [{ version: '1.0.0', integrity: sri(9) }], url);
    expect(view.versions).toEqual({});
    expect(view['dist-tags']).toEqual({});
  });

  it('leaves out a version let in that the source does not hold (yet)', () => {
    const view = tenantPackument(source({ '1.0.0': 1 }), [{ version: '1.0.1', integrity: sri(1) }], url);
    expect(view.versions).toEqual({});
  });

  it('prefers the highest release over a higher prerelease for latest', () => {
    expect(highestVersion(['1.0.0', '2.0.0-rc.0', '1.2.0'])).toBe('1.2.0');
    expect(highestVersion(['2.0.0-rc.0', '2.0.0-alpha.1'])).toBe('2.0.0-rc.0');
    expect(highestVersion([])).toBeUndefined();
  });

  it('property: every version shown was let in, held with its recorded bytes, and served by the view; latest is the highest shown', () => {
    fc.assert(
      fc.property(
        fc.dictionary(versionArb, fc.nat(5)),
        fc.array(fc.record({ version: versionArb, integrity: fc.option(fc.nat(5).map(sri), { nil: null }) })),
        fc.dictionary(fc.constantFrom('latest', 'next', 'beta'), versionArb),
        (held, decided, tags) => {
          const allowed: AllowedVersion[] = decided;
          const view = tenantPackument(source(held, tags), allowed, url);
          const shown = view.versions as Record<string, { dist: { tarball: string; integrity?: string } }>;
          for (const [version, document] of Object.entries(shown)) {
            const granted = allowed.filter((a) => a.version === version);
            expect(granted.length).toBeGreaterThan(0);
            expect(Object.hasOwn(held, version)).toBe(true);
            expect(document.dist.tarball).toBe(url(version));
            expect(document.dist.integrity).toBe(sri(held[version]!));
          }
          const distTags = view['dist-tags'] as Record<string, string>;
          for (const version of Object.values(distTags)) expect(Object.hasOwn(shown, version)).toBe(true);
          const names = Object.keys(shown);
          if (names.length === 0) expect(distTags.latest).toBeUndefined();
          else {
            const latest = distTags.latest!;
            const releases = names.filter((v) => semver.prerelease(v) === null);
            for (const v of releases.length > 0 ? releases : names) expect(semver.gte(latest, v)).toBe(true);
          }
        },
      ),
    );
  });
});

describe('decisionOf', () => {
  it.each([
    ['published', 'allowed'],
    ['approved', 'allowed'],
    ['publishing', 'allowed'],
    ['rejected', 'rejected'],
    ['awaiting_approval', 'awaiting_approval'],
    ['scanning', 'in_progress'],
    ['failed', 'failed'],
    [undefined, 'unknown'],
  ] as const)('%s → %s', (status, decision) => {
    expect(decisionOf(status)).toBe(decision);
  });
});

describe('parseTarballPath', () => {
  it.each([
    ['fw-clean/-/fw-clean-1.0.0.tgz', { name: 'fw-clean', version: '1.0.0' }],
    ['@fw/scoped/-/scoped-2.0.0.tgz', { name: '@fw/scoped', version: '2.0.0' }],
    ['@fw%2fscoped/-/scoped-2.0.0.tgz', { name: '@fw/scoped', version: '2.0.0' }],
    ['@fw/scoped/-/@fw/scoped-2.0.0-rc.1.tgz', { name: '@fw/scoped', version: '2.0.0-rc.1' }],
  ])('%s', (path, expected) => {
    expect(parseTarballPath(path)).toEqual(expected);
  });

  it.each([
    'fw-clean',
    'fw-clean/-/other-1.0.0.tgz',
    'fw-clean/-/fw-clean-1.0.tgz',
    '../x/-/x-1.0.0.tgz',
    'fw-clean/-/fw-clean-1.0.0.tar',
    '%E0%A4%A/-/x-1.0.0.tgz',
  ])('refuses %s', (path) => {
    expect(parseTarballPath(path)).toBeUndefined();
  });
});
