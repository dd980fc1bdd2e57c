import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LooseJson } from '../support/app.ts';
import { gzip } from '../support/fixture-packages.ts';
import { databaseKinds } from '../support/postgres.ts';
import { rawTar } from '../support/raw-tar.ts';
import { type CraftedFirewall, craftedFirewall } from './crafted-tarballs.ts';

const manifestOf = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name, version: '1.0.0', license: 'MIT', ...extra });
const bundling = (dep: string) => ({ dependencies: { [dep]: '1.0.0' }, bundleDependencies: [dep] });

/**
 * Packages whose own package.json is clean but which ship other packages inside their tarball
 * (`bundleDependencies`): npm installs those from the tarball and runs their install scripts, so they
 * are scanned as part of their parent.
 */
async function tarballs() {
  return {
    // npm runs a bundled package's postinstall on install (checked with npm 11).
    'bdl-scripts': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('bdl-scripts', bundling('bdl-evil')) },
        {
          path: 'package/node_modules/bdl-evil/package.json',
          content: JSON.stringify({
            name: 'bdl-evil',
            version: '1.0.0',
            scripts: { postinstall: 'node x.js' },
          }),
        },
        { path: 'package/node_modules/bdl-evil/x.js', content: 'process.exit(1)' },
      ]),
    ),
    // A scoped bundle, two levels down, that only has a binding.gyp (npm runs node-gyp rebuild).
    'bdl-gyp': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('bdl-gyp', bundling('bdl-mid')) },
        { path: 'package/node_modules/bdl-mid/package.json', content: manifestOf('bdl-mid') },
        {
          path: 'package/node_modules/bdl-mid/node_modules/@bdl/native/package.json',
          content: manifestOf('@bdl/native'),
        },
        {
          path: 'package/node_modules/bdl-mid/node_modules/@bdl/native/binding.gyp',
          content: '{ "targets": [] }',
        },
      ]),
    ),
    // A clean bundled package that an advisory marks as malicious.
    'bdl-mal': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('bdl-mal', bundling('bdl-known-bad')) },
        { path: 'package/node_modules/bdl-known-bad/package.json', content: manifestOf('bdl-known-bad') },
      ]),
    ),
    // A bundled package.json that is a link: what npm reads there is not what the scan read.
    'bdl-link': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('bdl-link', bundling('bdl-linked')) },
        { path: 'package/lib/pkg.json', content: manifestOf('bdl-linked', { scripts: { install: 'x' } }) },
        {
          path: 'package/node_modules/bdl-linked/package.json',
          type: '1',
          linkpath: 'package/lib/pkg.json',
        },
      ]),
    ),
    // Bundled packages that run nothing are no finding.
    'bdl-clean': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('bdl-clean', bundling('bdl-plain')) },
        { path: 'package/node_modules/bdl-plain/package.json', content: manifestOf('bdl-plain') },
        {
          path: 'package/test/node_modules/fixture/package.json',
          content: manifestOf('fixture', { scripts: { install: 'x' } }),
        },
      ]),
    ),
  };
}

for (const kind of databaseKinds) {
  describe(`firewall: packages bundled inside a tarball are scanned too (${kind.name})`, () => {
    let f: CraftedFirewall;
    const settled = (spec: string) => f.settled(spec);

    beforeAll(async () => {
      f = await craftedFirewall({
        database: kind.fresh,
        app: 'bundled-app',
        tarballs: await tarballs(),
        advisories: [
          {
            id: 'MAL-2026-0001',
            modified: '2026-01-01T00:00:00Z',
            summary: 'Malicious code in bdl-known-bad (npm)',
            affected: [{ package: { ecosystem: 'npm', name: 'bdl-known-bad' }, versions: ['1.0.0'] }],
          },
        ],
      });
    }, 120_000);

    afterAll(() => f?.stop());

    it('holds a package whose bundled dependency has a postinstall (npm runs it) for an approver', async () => {
      const held = await settled('bdl-scripts@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:bundled:bdl-evil']);
      expect((await fetch(`${f.target.url}/bdl-scripts`)).status).toBe(404);
    });

    it('holds a package whose nested, scoped bundled dependency has a binding.gyp', async () => {
      const held = await settled('bdl-gyp@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:bundled:@bdl/native']);
    });

    it('blocks a package that bundles one an advisory marks as malicious; it cannot be approved', async () => {
      const held = await settled('bdl-mal@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.findings.map((f: LooseJson) => [f.id, f.kind])).toEqual([
        ['MAL-2026-0001:bundled:bdl-known-bad@1.0.0', 'malicious'],
      ]);
      const approver = await f.t.user({ tenant: f.member.tenantSlug, role: 'approver' });
      const res = await f.t.request(`/v1/packages/${encodeURIComponent('bdl-mal@1.0.0')}/approve`, {
        token: approver.token,
        tenant: f.member.tenantSlug,
        json: { reason: 'looks fine' },
      });
      expect(res.status).toBe(409);
      expect((await fetch(`${f.target.url}/bdl-mal`)).status).toBe(404);
    });

    it('holds a package whose bundled package.json is a link the scan cannot read', async () => {
      const held = await settled('bdl-link@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:bundled:bdl-linked']);
    });

    it('lets a package through whose bundled packages run nothing (a fixture folder is not a bundle)', async () => {
      const done = await settled('bdl-clean@1.0.0');
      expect(done.status).toBe('published');
      expect(done.findings).toEqual([]);
    });
  });
}
