import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importOsv } from '../../src/packages/osv-import.ts';
import type { PackageJobs } from '../../src/processes/packages/jobs.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { serviceWorkers, testPackageJobs, waitUntil } from '../processes/support.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { gzip, publishFixture } from '../support/fixture-packages.ts';
import { databaseKinds } from '../support/postgres.ts';
import { rawTar } from '../support/raw-tar.ts';
import { type Registry, startVerdaccio } from '../support/verdaccio.ts';
import { lastWritten } from '../support/visibility.ts';

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
    let t: TestApp;
    let upstream: Registry;
    let target: Registry;
    let worker: Worker;
    let jobs: PackageJobs;
    let member: SignedInUser;
    const integrity: Record<string, string> = {};
    const osv = mkdtempSync(join(tmpdir(), 'warden-osv-bundled-'));

    const status = async (spec: string) => {
      const res = await t.request(`/v1/packages/${encodeURIComponent(spec)}`, {
        token: member.token,
        tenant: member.tenantSlug,
        headers: { 'x-min-position': (await lastWritten(t.database.db)).toString() },
      });
      return (await res.json()) as LooseJson;
    };
    const settled = async (spec: string) => {
      let last: LooseJson = {};
      await waitUntil(
        `${spec} settled`,
        async () => {
          last = await status(spec);
          return ['published', 'awaiting_approval', 'failed', 'rejected'].includes(last.status);
        },
        60_000,
      );
      return last;
    };

    beforeAll(async () => {
      [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
      const built = await tarballs();
      for (const [name, tarball] of Object.entries(built)) {
        integrity[name] = (await publishFixture(upstream, { name, version: '1.0.0' }, { tarball })).integrity;
      }
      t = await testApp(kind.fresh, {
        env: {
          WARDEN_UPSTREAM_REGISTRY: upstream.url,
          WARDEN_TARGET_REGISTRY: target.url,
          WARDEN_TARGET_REGISTRY_TOKEN: target.token,
          WARDEN_PACKAGE_MAX_ATTEMPTS: '2',
        },
      });
      writeFileSync(
        join(osv, 'MAL-2026-0001.json'),
        JSON.stringify({
          id: 'MAL-2026-0001',
          modified: '2026-01-01T00:00:00Z',
          summary: 'Malicious code in bdl-known-bad (npm)',
          affected: [{ package: { ecosystem: 'npm', name: 'bdl-known-bad' }, versions: ['1.0.0'] }],
        }),
      );
      await importOsv({ db: t.database.db as never, store: t.store, path: osv });
      worker = await serviceWorkers(t);
      jobs = testPackageJobs(t, worker.id);
      const { slug } = await t.tenant();
      member = await t.user({ tenant: slug, role: 'member' });
      const submitted = await t.request('/v1/package-requests', {
        token: member.token,
        tenant: slug,
        json: {
          name: 'bundled-app',
          lockfileVersion: 3,
          packages: Object.fromEntries([
            ['', { name: 'bundled-app' }],
            ...Object.keys(built).map((name) => [
              `node_modules/${name}`,
              { version: '1.0.0', integrity: integrity[name] },
            ]),
          ]),
        },
      });
      expect(submitted.status).toBe(202);
    }, 120_000);

    afterAll(async () => {
      await jobs?.stop(5000);
      await worker?.stop();
      await t?.dispose();
      await Promise.all([upstream?.stop(), target?.stop()]);
      rmSync(osv, { recursive: true, force: true });
    });

    it('holds a package whose bundled dependency has a postinstall (npm runs it) for an approver', async () => {
      const held = await settled('bdl-scripts@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:bundled:bdl-evil']);
      expect((await fetch(`${target.url}/bdl-scripts`)).status).toBe(404);
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
      const approver = await t.user({ tenant: member.tenantSlug, role: 'approver' });
      const res = await t.request(`/v1/packages/${encodeURIComponent('bdl-mal@1.0.0')}/approve`, {
        token: approver.token,
        tenant: member.tenantSlug,
        json: { reason: 'looks fine' },
      });
      expect(res.status).toBe(409);
      expect((await fetch(`${target.url}/bdl-mal`)).status).toBe(404);
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
