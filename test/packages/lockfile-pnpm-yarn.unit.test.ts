import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseLockfileText } from '../../src/packages/lockfile-text.ts';

const fixture = (file: string) =>
  readFileSync(join(import.meta.dirname, 'fixtures', 'lockfiles', file), 'utf8');

const ok = (text: string, kind?: 'npm' | 'pnpm' | 'yarn') => {
  const result = parseLockfileText(text, kind);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result;
};
const refused = (text: string, kind?: 'npm' | 'pnpm' | 'yarn') => {
  const result = parseLockfileText(text, kind);
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(result.packages.map((p) => p.spec))}`);
  return result.errors;
};

const SPECS = [
  '@types/ms@0.7.34',
  'debug@2.6.9',
  'is-number@7.0.0',
  'ms@2.0.0',
  'ms@2.1.3',
  'peer-dep@1.0.0',
  'peer-host@1.0.0',
];

const FIXTURES = [
  { file: 'pnpm-lock-v6.yaml', format: 'pnpm-lock', version: 6, integrity: true, flags: true },
  { file: 'pnpm-lock-v9.yaml', format: 'pnpm-lock', version: 9, integrity: true, flags: true },
  { file: 'yarn-v1.lock', format: 'yarn-classic', version: 1, integrity: true, flags: false },
  { file: 'yarn-berry.lock', format: 'yarn-berry', version: 10, integrity: false, flags: false },
] as const;

describe('pnpm and Yarn lockfiles the real tools wrote (pnpm 8 and 9, Yarn 1.22 and 4)', () => {
  it.each(FIXTURES)(
    '$file: the same packages as the package-lock of the same project, aliases by their real name, own folders refused',
    ({ file, format, version, integrity, flags }) => {
      const result = ok(fixture(file));
      expect(result).toMatchObject({ format, lockfileVersion: version });
      expect(result.packages.map((p) => p.spec)).toEqual(SPECS);
      const byspec = Object.fromEntries(result.packages.map((p) => [p.spec, p]));
      // `my-ms: npm:ms@2.0.0` installs ms@2.0.0 under another name; the peer suffix is not part of the version.
      expect(byspec['ms@2.0.0']!.aliases).toEqual(['my-ms']);
      expect(byspec['peer-host@1.0.0']).toMatchObject({ name: 'peer-host', version: '1.0.0' });
      // Berry's checksum hashes Yarn's cache archive, not the npm tarball: no integrity, the registry's counts.
      expect(result.packages.every((p) => (p.integrity !== undefined) === integrity)).toBe(true);
      if (integrity) expect(byspec['ms@2.1.3']!.integrity).toMatch(/^sha512-/);
      expect(byspec['debug@2.6.9']!.dev).toBe(flags);
      expect(byspec['is-number@7.0.0']!.optional).toBe(flags);
      expect(byspec['ms@2.1.3']).toMatchObject({ dev: false, optional: false });
      expect(result.rejected.map((r) => [r.name, r.reason])).toEqual([
        ['local-lib', 'unsupported_source'],
        ['local-tgz', 'unsupported_source'],
      ]);
      expect(result.rejected.every((r) => r.source.includes('local-'))).toBe(true);
    },
  );

  it('reads the kind from the text, and from the submitter when named', () => {
    expect(ok(fixture('pnpm-lock-v9.yaml'), 'pnpm').format).toBe('pnpm-lock');
    expect(ok(fixture('yarn-v1.lock'), 'yarn').format).toBe('yarn-classic');
    expect(ok(fixture('yarn-berry.lock'), 'yarn').format).toBe('yarn-berry');
    expect(ok(fixture('lock-v3.json')).format).toBe('package-lock');
    // Named wrongly: read as what it was called, and refused as not being one.
    expect(refused(fixture('yarn-berry.lock'), 'pnpm')).toEqual([
      expect.objectContaining({ path: 'lockfileVersion', message: expect.stringMatching(/missing/) }),
    ]);
    expect(refused(fixture('pnpm-lock-v9.yaml'), 'npm')[0]!.path).toBe('(body)');
    expect(refused('hello: world\n')[0]).toMatchObject({
      path: '(body)',
      message: expect.stringMatching(/pnpm-lock/),
    });
  });

  it('pnpm v9 derives dev from the importers: a package reached by a production dependency is not dev', () => {
    const text = fixture('pnpm-lock-v9.yaml').replace(
      '  peer-dep@1.0.0: {}\n',
      '  peer-dep@1.0.0:\n    dependencies:\n      debug: 2.6.9\n',
    );
    const byspec = Object.fromEntries(ok(text).packages.map((p) => [p.spec, p]));
    expect(byspec['debug@2.6.9']!.dev).toBe(false);
  });

  it('7.0 and 8.0 (written by pre-releases of pnpm 9) read by their shape, as v6 or as v9', () => {
    const summary = (text: string) =>
      ok(text).packages.map(
        (p) => `${p.spec} ${p.dev} ${p.optional} ${p.aliases} ${p.integrity?.slice(0, 12)}`,
      );
    const v6 = fixture('pnpm-lock-v6.yaml');
    const v9 = fixture('pnpm-lock-v9.yaml');
    for (const label of ['7.0', '8.0']) {
      expect(summary(v9.replace("lockfileVersion: '9.0'", `lockfileVersion: '${label}'`))).toEqual(
        summary(v9),
      );
      expect(summary(v6.replace("lockfileVersion: '6.0'", `lockfileVersion: '${label}'`))).toEqual(
        summary(v6),
      );
    }
    expect(summary(v6)).toEqual(summary(v9));
  });

  it('refuses pnpm lockfiles older than v6 and versions that are not one', () => {
    expect(refused('lockfileVersion: 5.4\npackages: {}\n')[0]).toMatchObject({ path: 'lockfileVersion' });
    expect(refused("lockfileVersion: 'ten'\n")[0]).toMatchObject({ path: 'lockfileVersion' });
    expect(ok("lockfileVersion: '9.0'\n").packages).toEqual([]);
  });
});

describe('sources Warden does not fetch, and names it refuses first', () => {
  it('pnpm: git, tarball URLs and workspace links are listed as unsupported; a registry-shaped tarball elsewhere is the registry package', () => {
    const text = `${fixture('pnpm-lock-v9.yaml').replace(
      '    devDependencies:\n',
      '      sibling:\n        specifier: workspace:*\n        version: link:../sibling\n    devDependencies:\n',
    )}
  from-git@git+https://git.example.test/acme/from-git.git#0123456789abcdef0123456789abcdef01234567:
    resolution: {commit: 0123456789abcdef0123456789abcdef01234567, repo: https://git.example.test/acme/from-git.git, type: git}
    version: 1.0.0

  from-url@https://files.example.test/from-url.tgz:
    resolution: {tarball: https://files.example.test/from-url.tgz}
    version: 2.0.0
`.replace(
      '  ms@2.1.3:\n    resolution: {integrity: ',
      '  ms@2.1.3:\n    resolution: {tarball: https://mirror.example.test/ms/-/ms-2.1.3.tgz, integrity: ',
    );
    const result = ok(text);
    expect(Object.fromEntries(result.rejected.map((r) => [r.name, r.source]))).toEqual({
      'from-git': 'git+https://git.example.test/acme/from-git.git#0123456789abcdef0123456789abcdef01234567',
      'from-url': 'https://files.example.test/from-url.tgz',
      'local-lib': 'file:local-lib',
      'local-tgz': 'file:vendor/local-tgz-1.0.0.tgz',
      sibling: 'link:../sibling',
    });
    // Warden downloads ms@2.1.3 from its own upstream and checks it against this integrity: the host is never asked.
    expect(result.packages.find((p) => p.spec === 'ms@2.1.3')).toMatchObject({
      resolved: 'https://mirror.example.test/ms/-/ms-2.1.3.tgz',
      integrity: expect.stringMatching(/^sha512-/),
    });
  });

  it('pnpm: an invalid name is a 422 naming the entry even when its source is unsupported', () => {
    const v9 = `${fixture('pnpm-lock-v9.yaml')}\n  ../../etc@file:evil:\n    resolution: {directory: evil, type: directory}\n`;
    expect(refused(v9)).toEqual([
      {
        path: 'snapshots.../../etc@file:evil.name',
        message: expect.stringMatching(/not a valid npm package name/),
      },
    ]);
    const v6 = `${fixture('pnpm-lock-v6.yaml')}\n  file:evil:\n    resolution: {directory: evil, type: directory}\n    name: ../../etc\n    dev: false\n`;
    expect(refused(v6)[0]).toMatchObject({ path: 'packages.file:evil.name' });
    const alias = fixture('pnpm-lock-v9.yaml').replace('      my-ms:\n', '      ../my-ms:\n');
    expect(refused(alias)[0]!.message).toMatch(/\.\.\/my-ms/);
  });

  it('Yarn v1: git and URL sources unsupported; an invalid name refused first', () => {
    const extra = `
"from-git@git+https://git.example.test/acme/from-git.git":
  version "1.0.0"
  resolved "git+https://git.example.test/acme/from-git.git#0123456789abcdef0123456789abcdef01234567"
`;
    const result = ok(fixture('yarn-v1.lock') + extra);
    expect(result.rejected.map((r) => r.name)).toEqual(['local-lib', 'local-tgz', 'from-git']);
    const evil = `${fixture('yarn-v1.lock')}\n"../../etc@file:./evil":\n  version "1.0.0"\n`;
    expect(refused(evil)).toEqual([
      {
        path: '../../etc@file:./evil.name',
        message: expect.stringMatching(/does not name a valid npm package/),
      },
    ]);
  });

  it('Berry: workspaces and git unsupported, the root skipped, a patched npm package is that package', () => {
    const extra = `
"from-git@git+https://git.example.test/acme/from-git.git":
  version: 1.0.0
  resolution: "from-git@https://git.example.test/acme/from-git.git#commit=0123456789abcdef0123456789abcdef01234567"
  languageName: node
  linkType: hard

"sibling@workspace:packages/sibling":
  version: 0.0.0-use.local
  resolution: "sibling@workspace:packages/sibling"
  languageName: unknown
  linkType: soft

"typescript@patch:typescript@npm%3A5.4.5#~builtin<compat/typescript>":
  version: 5.4.5
  resolution: "typescript@patch:typescript@npm%3A5.4.5#~builtin<compat/typescript>::version=5.4.5&hash=5adc0c"
  languageName: node
  linkType: hard

"elsewhere@npm:1.0.0":
  version: 1.0.0
  resolution: "elsewhere@npm:1.0.0::__archiveUrl=https%3A%2F%2Fevil.example.test%2Felsewhere-1.0.0.tgz"
  languageName: node
  linkType: hard
`;
    const result = ok(fixture('yarn-berry.lock') + extra);
    expect(result.rejected.map((r) => r.name)).toEqual(['local-lib', 'local-tgz', 'from-git', 'sibling']);
    const specs = result.packages.map((p) => p.spec);
    expect(specs).toContain('typescript@5.4.5');
    expect(specs).toContain('elsewhere@1.0.0');
    expect(result.packages.find((p) => p.spec === 'elsewhere@1.0.0')!.resolved).toBeUndefined();
    const evil = `${fixture('yarn-berry.lock')}\n"../../etc@file:./evil":\n  version: 1.0.0\n  resolution: "../../etc@file:./evil#./evil"\n`;
    expect(refused(evil)).toEqual([
      { path: '../../etc@file:./evil.name', message: expect.stringMatching(/valid npm package/) },
    ]);
  });
});

describe('hostile lockfiles', () => {
  it('a YAML bomb (anchors and aliases) is refused without expanding it', () => {
    const lines = ["lockfileVersion: '9.0'", 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 30; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const before = process.memoryUsage().heapUsed;
    expect(refused(`${lines.join('\n')}\n`)).toEqual([
      { path: '(body)', message: expect.stringMatching(/anchors or aliases/) },
    ]);
    // 10^30 nodes expanded would never return; the refusal costs next to nothing.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    const berry = `__metadata:\n  version: 8\n"a@npm:1.0.0": &e\n  version: 1.0.0\n  resolution: "a@npm:1.0.0"\n"b@npm:1.0.0": *e\n`;
    expect(refused(berry)[0]!.message).toMatch(/anchors or aliases/);
  });

  it('duplicate keys are refused in every format', () => {
    const pnpm = fixture('pnpm-lock-v9.yaml').replace(
      '  ms@2.0.0: {}\n',
      '  ms@2.0.0: {}\n\n  ms@2.0.0:\n    optional: true\n',
    );
    const [repeat] = refused(pnpm);
    expect(repeat).toMatchObject({ message: expect.stringMatching(/repeats a key/) });
    // The place named is the second occurrence.
    const [, line, col] = /^\(body\):(\d+):(\d+)$/.exec(repeat!.path)!;
    expect(pnpm.split('\n')[Number(line) - 1]).toBe('  ms@2.0.0:');
    expect(col).toBe('3');
    const berry = `${fixture('yarn-berry.lock')}\n"ms@npm:2.1.3":\n  version: 2.1.3\n  resolution: "ms@npm:2.1.3"\n`;
    expect(refused(berry)[0]).toMatchObject({ message: expect.stringMatching(/repeats a key/) });
    const classic = `${fixture('yarn-v1.lock')}\nms@2.1.3:\n  version "2.1.3"\n`;
    expect(refused(classic)[0]).toMatchObject({ message: expect.stringMatching(/repeats "ms@2.1.3"/) });
  });

  it('a yarn.lock with merge conflict markers is refused', () => {
    const conflicted = fixture('yarn-v1.lock').replace(
      'ms@2.1.3:\n  version "2.1.3"\n',
      'ms@2.1.3:\n<<<<<<< HEAD\n  version "2.1.3"\n=======\n  version "2.1.2"\n>>>>>>> other\n',
    );
    expect(parseLockfileText(conflicted).ok).toBe(false);
  });

  it('reads a yarn.lock ending in a comment without a newline, and refuses a quote never closed, at once', () => {
    // Yarn's tokenizer ran off the end of both (about 10 s and half a gigabyte each, then "Invalid
    // string length"): a 3-byte body was enough.
    const lock = `${fixture('yarn-v1.lock').trimEnd()}\n# the end`;
    expect(ok(lock, 'yarn').packages).toEqual(ok(fixture('yarn-v1.lock'), 'yarn').packages);
    expect(parseLockfileText('# c', 'yarn')).toMatchObject({ ok: true, packages: [] });
    for (const open of ['"abc', 'a@1:\n  version "1.0.0\n']) {
      expect(refused(open, 'yarn')[0]?.message).not.toContain('Invalid string length');
    }
  });

  const neverThrows = (text: string, kind?: 'npm' | 'pnpm' | 'yarn') => {
    const result = parseLockfileText(text, kind);
    if (!result.ok) {
      expect(result.errors.length).toBeGreaterThan(0);
      for (const e of result.errors)
        expect(typeof e.path === 'string' && typeof e.message === 'string').toBe(true);
    }
  };
  const kinds = fc.constantFrom(undefined, 'npm' as const, 'pnpm' as const, 'yarn' as const);

  it('never throws on arbitrary text: every failure is a list of errors with paths', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), kinds, (text, kind) =>
        neverThrows(text, kind),
      ),
      {
        numRuns: 500,
      },
    );
  });

  it('never throws on arbitrary YAML shaped like the lockfiles', () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string({ maxLength: 20 }),
        fc.constantFrom('9.0', '6.0', '1.0.0', 'npm:1.0.0', 'link:../x', 'file:x', 'true', '../x@1.0.0'),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(
          fc.oneof(
            fc.string({ maxLength: 12 }),
            fc.constantFrom('ms@1.0.0', '/ms@1.0.0(p@1.0.0)', 'resolution', 'version', 'dependencies'),
          ),
          tie('node'),
          { maxKeys: 4 },
        ),
      ),
    }));
    const top = fc.record({
      lockfileVersion: fc.constantFrom('6.0', '9.0', '7.0', 'x'),
      importers: value.node,
      packages: value.node,
      snapshots: value.node,
      dependencies: value.node,
    });
    const berry = fc.dictionary(fc.string({ maxLength: 20 }), value.node, { maxKeys: 5 }).map((d) => ({
      __metadata: { version: 8 },
      ...d,
    }));
    fc.assert(
      fc.property(fc.oneof(top, berry), kinds, (doc, kind) => neverThrows(stringify(doc), kind)),
      { numRuns: 300 },
    );
  });

  it('never throws on real lockfiles with lines cut out or swapped', () => {
    const files = FIXTURES.map((f) => fixture(f.file).split('\n'));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: files.length - 1 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (which, cuts) => {
          const lines = [...files[which]!];
          for (const cut of cuts) {
            const i = cut % lines.length;
            lines.splice(i, 1, ...(cut % 2 === 0 ? [] : [lines[(i + 7) % lines.length]!]));
          }
          neverThrows(lines.join('\n'));
        },
      ),
      { numRuns: 300 },
    );
  });
});
