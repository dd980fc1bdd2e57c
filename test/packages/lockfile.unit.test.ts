import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_LOCKFILE_PACKAGES, parseLockfile, validPackageName } from '../../src/packages/lockfile.ts';
import type { LooseJson } from '../support/app.ts';

const fixture = (version: 1 | 2 | 3) =>
  JSON.parse(
    readFileSync(join(import.meta.dirname, 'fixtures', 'lockfiles', `lock-v${version}.json`), 'utf8'),
  ) as LooseJson;

const ok = (input: unknown) => {
  const result = parseLockfile(input);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result;
};

describe('parseLockfile on lockfiles real npm wrote', () => {
  it.each([1, 2, 3] as const)(
    'v%i: one package per name@version, aliases by their real name, flags merged',
    (version) => {
      const result = ok(fixture(version));
      expect(result.lockfileVersion).toBe(version);
      expect(result.name).toBe('fixture-app');
      expect(result.packages.map((p) => p.spec)).toEqual([
        '@types/ms@0.7.34',
        'debug@2.6.9',
        'is-number@7.0.0',
        'ms@2.0.0',
        'ms@2.1.3',
      ]);
      const byspec = Object.fromEntries(result.packages.map((p) => [p.spec, p]));
      // ms@2.0.0 is both debug's (dev) dependency and the prod alias my-ms: not dev-only.
      expect(byspec['ms@2.0.0']).toMatchObject({ dev: false, aliases: ['my-ms'] });
      expect(byspec['ms@2.0.0']!.paths.sort()).toEqual([
        'node_modules/debug/node_modules/ms',
        'node_modules/my-ms',
      ]);
      expect(byspec['debug@2.6.9']).toMatchObject({ dev: true, optional: false });
      expect(byspec['is-number@7.0.0']).toMatchObject({ dev: false, optional: true });
      expect(byspec['ms@2.1.3']!.integrity).toMatch(/^sha512-/);
      // The file: dependency is the user's own folder: refused, never fetched, reported once.
      expect(result.rejected).toEqual([
        expect.objectContaining({ name: 'local-lib', reason: 'unsupported_source' }),
      ]);
    },
  );

  it('reads the license v2 and v3 lockfiles carry', () => {
    expect(ok(fixture(3)).packages.every((p) => p.license === 'MIT')).toBe(true);
  });

  it('refuses git, tarball-URL and link sources, and accepts bundled and peer entries (entries added as npm writes them)', () => {
    const lockfile = fixture(3);
    lockfile.packages['node_modules/from-git'] = {
      version: '1.0.0',
      resolved: 'git+ssh://git@github.com/acme/from-git.git#0123456789abcdef0123456789abcdef01234567',
    };
    lockfile.packages['node_modules/from-url'] = {
      version: '2.0.0',
      resolved: 'https://example.com/files/from-url.tgz',
    };
    lockfile.packages['node_modules/debug/node_modules/inner'] = { version: '1.0.0', inBundle: true };
    lockfile.packages['node_modules/react'] = {
      version: '18.2.0',
      resolved: 'https://registry.example.com/react/-/react-18.2.0.tgz',
      peer: true,
    };
    const result = ok(lockfile);
    expect(result.rejected.map((r) => r.name).sort()).toEqual(['from-git', 'from-url', 'local-lib']);
    const byspec = Object.fromEntries(result.packages.map((p) => [p.spec, p]));
    expect(byspec['inner@1.0.0']).toMatchObject({ bundled: true });
    expect(byspec['react@18.2.0']).toMatchObject({ peer: true });
  });

  it('refuses v1 git and file versions the same way', () => {
    const lockfile = fixture(1);
    lockfile.dependencies['from-git'] = {
      version: 'github:acme/from-git#0123456789abcdef0123456789abcdef01234567',
    };
    const result = ok(lockfile);
    expect(result.rejected.map((r) => r.name).sort()).toEqual(['from-git', 'local-lib']);
  });
});

describe('parseLockfile refuses what is not a lockfile, with the path of the problem', () => {
  it.each([
    [null, '(body)'],
    [[], '(body)'],
    [{ name: 'x' }, 'lockfileVersion'],
    [{ lockfileVersion: 4, packages: {} }, 'lockfileVersion'],
    [{ lockfileVersion: 3, packages: [] }, 'packages'],
    [
      { lockfileVersion: 3, packages: { 'node_modules/x': { version: 'latest' } } },
      'packages.node_modules/x.version',
    ],
    [
      { lockfileVersion: 3, packages: { 'node_modules/../../etc': { version: '1.0.0' } } },
      'packages.node_modules/../../etc.name',
    ],
    [
      { lockfileVersion: 1, dependencies: { 'Bad Name': { version: '1.0.0' } } },
      'dependencies.Bad Name.name',
    ],
    // A bad name is refused even when its source is one Warden would only list as unsupported.
    [
      {
        lockfileVersion: 3,
        packages: {
          'node_modules/../../etc': { version: '1.0.0', resolved: 'git+ssh://git.example.com/x.git' },
        },
      },
      'packages.node_modules/../../etc.name',
    ],
    [
      { lockfileVersion: 3, packages: { 'node_modules/../../etc': { resolved: '../../etc', link: true } } },
      'packages.node_modules/../../etc.name',
    ],
    [
      {
        lockfileVersion: 3,
        packages: { 'node_modules/ok': { name: '../../etc', version: 'file:../x', resolved: 'file:../x' } },
      },
      'packages.node_modules/ok.name',
    ],
    [
      {
        lockfileVersion: 1,
        dependencies: { '../../etc': { version: 'git+https://git.example.com/x.git#abc' } },
      },
      'dependencies.../../etc.name',
    ],
    [
      {
        lockfileVersion: 1,
        dependencies: { '../../etc': { version: '1.0.0', resolved: 'https://tarballs.example.com/x.tgz' } },
      },
      'dependencies.../../etc.name',
    ],
  ])('%j → error at %s', (input, path) => {
    const result = parseLockfile(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.path).toBe(path);
  });

  it('refuses more than the maximum number of packages as a whole', () => {
    const packages: Record<string, unknown> = { '': {} };
    for (let i = 0; i <= MAX_LOCKFILE_PACKAGES; i++) packages[`node_modules/p${i}`] = { version: '1.0.0' };
    const result = parseLockfile({ lockfileVersion: 3, packages });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.message).toContain(String(MAX_LOCKFILE_PACKAGES));
  });

  it('never throws on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        parseLockfile(value);
        parseLockfile({ lockfileVersion: 3, packages: value });
        parseLockfile({ lockfileVersion: 1, dependencies: value });
      }),
    );
  });

  it('lists every distinct name@version of a generated v3 lockfile exactly once', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    const version = fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)).map((v) => v.join('.'));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(name, { minLength: 1, maxLength: 3 }), version), { maxLength: 40 }),
        (entries) => {
          const packages: Record<string, unknown> = { '': { name: 'root' } };
          for (const [path, v] of entries)
            packages[path.map((n) => `node_modules/${n}`).join('/')] = { version: v };
          const result = ok({ lockfileVersion: 3, packages });
          const expected = new Set(
            Object.entries(packages)
              .filter(([key]) => key !== '')
              .map(
                ([key, entry]) =>
                  `${key.split('node_modules/').at(-1)}@${(entry as { version: string }).version}`,
              ),
          );
          expect(result.packages.map((p) => p.spec).sort()).toEqual([...expected].sort());
        },
      ),
    );
  });
});

describe('validPackageName', () => {
  it('accepts real names, old ones included, and refuses traversal and control characters', () => {
    for (const name of ['lodash', '@types/node', 'JSONStream', 'a.b-c_d'])
      expect(validPackageName(name), name).toBe(true);
    for (const name of [
      '..',
      '../x',
      '@a/../b',
      'a/b',
      '@a/b/c',
      '.hidden',
      '_private',
      'x\u0000',
      'a\\b',
      '',
    ])
      expect(validPackageName(name), name).toBe(false);
  });
});
