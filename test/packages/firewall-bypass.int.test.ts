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
const evil = { scripts: { postinstall: 'node evil.js' } };

/**
 * Tarballs built byte by byte, published to a real registry, requested through Warden's API and
 * checked by its pipeline: each hides install-time execution from a scanner that reads tar paths
 * differently from npm's extractor, or that trusts the tarball's package.json alone.
 */
async function tarballs() {
  return {
    // A clean package.json, then one npm's extractor writes over it (`.` and empty segments vanish).
    'fwb-dot': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-dot') },
        { path: 'package/./package.json', content: manifestOf('fwb-dot', evil) },
        { path: 'package/evil.js', content: 'process.exit(1)' },
      ]),
    ),
    'fwb-slash': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-slash') },
        { path: 'package//package.json', content: manifestOf('fwb-slash', evil) },
      ]),
    ),
    // No script at all, but npm runs `node-gyp rebuild` for a binding.gyp at the root.
    'fwb-gyp': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-gyp') },
        { path: 'package/binding.gyp', content: '{ "targets": [{ "target_name": "x", "sources": [] }] }' },
      ]),
    ),
    // A clean tarball whose registry document names a postinstall npm may run.
    'fwb-meta': await gzip(
      rawTar([
        { path: 'package/package.json', content: manifestOf('fwb-meta') },
        { path: 'package/evil.js', content: 'process.exit(1)' },
      ]),
    ),
  };
}

for (const kind of databaseKinds) {
  describe(`firewall: install-time execution hidden from the scan (${kind.name})`, () => {
    let t: TestApp;
    let upstream: Registry;
    let target: Registry;
    let worker: Worker;
    let jobs: PackageJobs;
    let member: SignedInUser;
    const integrity: Record<string, string> = {};
    const osv = mkdtempSync(join(tmpdir(), 'warden-osv-bypass-'));

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
          return ['published', 'approved', 'awaiting_approval', 'failed', 'rejected'].includes(last.status);
        },
        60_000,
      );
      return last;
    };

    beforeAll(async () => {
      [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
      const built = await tarballs();
      const registryDocument: Record<string, Record<string, unknown>> = {
        // What npm publish writes for a binding.gyp: the registry agrees with the tarball.
        'fwb-gyp': { scripts: { install: 'node-gyp rebuild' }, gypfile: true },
        'fwb-meta': { ...evil },
      };
      for (const [name, tarball] of Object.entries(built)) {
        integrity[name] = (
          await publishFixture(
            upstream,
            { name, version: '1.0.0', packageJson: registryDocument[name] ?? {} },
            { tarball },
          )
        ).integrity;
      }
      t = await testApp(kind.fresh, {
        env: {
          WARDEN_UPSTREAM_REGISTRY: upstream.url,
          WARDEN_TARGET_REGISTRY: target.url,
          WARDEN_TARGET_REGISTRY_TOKEN: target.token,
          WARDEN_PACKAGE_MAX_ATTEMPTS: '2',
        },
      });
      // Advisory data that names none of these: a clean scan approves (and publishes) at once.
      writeFileSync(
        join(osv, 'GHSA-none-0000.json'),
        JSON.stringify({
          id: 'GHSA-none-0000',
          modified: '2026-01-01T00:00:00Z',
          affected: [{ package: { ecosystem: 'npm', name: 'fwb-unrelated' }, versions: ['1.0.0'] }],
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
          name: 'bypass-app',
          lockfileVersion: 3,
          packages: Object.fromEntries([
            ['', { name: 'bypass-app' }],
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

    it.each(['fwb-dot', 'fwb-slash'])(
      'refuses %s, whose second package.json (spelled so npm writes it over the first) has a postinstall',
      async (name) => {
        const settledStatus = await settled(`${name}@1.0.0`);
        expect(settledStatus.status).toBe('failed');
        expect(settledStatus.failure).toMatchObject({ stage: 'download', code: 'malformed_tarball' });
        expect((await fetch(`${target.url}/${name}`)).status).toBe(404);
      },
    );

    it('holds a package with a root binding.gyp for an approver: npm compiles it on install', async () => {
      const held = await settled('fwb-gyp@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:binding.gyp']);
      expect(held.findings.map((f: LooseJson) => f.id)).toEqual(['install_script:binding.gyp']);
      expect((await fetch(`${target.url}/fwb-gyp`)).status).toBe(404);
    });

    it('holds a clean tarball whose registry document names a postinstall for an approver', async () => {
      const held = await settled('fwb-meta@1.0.0');
      expect(held.status).toBe('awaiting_approval');
      expect(held.reasons).toEqual(['install_script:registry_metadata']);
      expect(held.findings.map((f: LooseJson) => f.id)).toEqual(['install_script:registry_metadata']);
      expect((await fetch(`${target.url}/fwb-meta`)).status).toBe(404);
    });
  });
}
