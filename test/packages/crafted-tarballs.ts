import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ImportResult } from '../../src/packages/advisories.ts';
import { importOsv } from '../../src/packages/osv-import.ts';
import type { PackageJobs } from '../../src/processes/packages/jobs.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { serviceWorkers, testPackageJobs, waitUntil } from '../processes/support.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import type { TestDatabase } from '../support/databases.ts';
import { publishFixture } from '../support/fixture-packages.ts';
import { type Registry, startVerdaccio } from '../support/verdaccio.ts';
import { lastWritten } from '../support/visibility.ts';

export interface CraftedFirewall {
  t: TestApp;
  /** The upstream holding the crafted packages, and the secure registry Warden publishes to. */
  upstream: Registry;
  target: Registry;
  /** The member who submitted the first lockfile (naming every crafted package unless `lockfile` says). */
  member: SignedInUser;
  /** A package (`name@1.0.0`) of `user`'s tenant (the member's unless told) once it stops moving: published, held, failed or rejected. */
  settled(spec: string, user?: SignedInUser): Promise<LooseJson>;
  /** Submits a lockfile naming `names` (some of `tarballs`) as `user`. */
  submit(user: SignedInUser, names: readonly string[]): Promise<void>;
  /** Adds `advisories` to the OSV data imported so far and imports it all again (monitoring then runs). */
  importAdvisories(advisories: Record<string, unknown>[]): Promise<ImportResult & { recorded: boolean }>;
  stop(): Promise<void>;
}

/**
 * The firewall against crafted tarballs, end to end: each of `tarballs` is published (version 1.0.0,
 * with its registry document's extra fields from `registryDocuments`) to a real Verdaccio upstream,
 * `advisories` are imported as OSV data, the process workers and package jobs run, and a member
 * submits one lockfile naming them all. Each test then reads what became of its package.
 */
export async function craftedFirewall(options: {
  database: () => Promise<TestDatabase>;
  app: string;
  tarballs: Record<string, Uint8Array>;
  registryDocuments?: Record<string, Record<string, unknown>>;
  advisories: Record<string, unknown>[];
  /** The statuses a package settles in (`approved` too where auto-approval may pause there). */
  settledIn?: readonly string[];
  /** The packages the member's lockfile names (default: every one of `tarballs`). */
  lockfile?: readonly string[];
}): Promise<CraftedFirewall> {
  const [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
  const osv = mkdtempSync(join(tmpdir(), 'warden-osv-crafted-'));
  const integrity: Record<string, string> = {};
  for (const [name, tarball] of Object.entries(options.tarballs)) {
    const packageJson = options.registryDocuments?.[name] ?? {};
    integrity[name] = (
      await publishFixture(upstream, { name, version: '1.0.0', packageJson }, { tarball })
    ).integrity;
  }
  const t = await testApp(options.database, {
    env: {
      WARDEN_UPSTREAM_REGISTRY: upstream.url,
      WARDEN_TARGET_REGISTRY: target.url,
      WARDEN_TARGET_REGISTRY_TOKEN: target.token,
      WARDEN_PACKAGE_MAX_ATTEMPTS: '2',
    },
  });
  const importAdvisories = async (advisories: Record<string, unknown>[]) => {
    for (const advisory of advisories) {
      writeFileSync(join(osv, `${String(advisory.id)}.json`), JSON.stringify(advisory));
    }
    return importOsv({ db: t.database.db as never, store: t.store, path: osv });
  };
  await importAdvisories(options.advisories);
  const worker: Worker = await serviceWorkers(t);
  const jobs: PackageJobs = testPackageJobs(t, worker.id);
  const { slug } = await t.tenant();
  const member = await t.user({ tenant: slug, role: 'member' });
  const submit = async (user: SignedInUser, names: readonly string[]) => {
    const submitted = await t.request('/v1/package-requests', {
      token: user.token,
      tenant: user.tenantSlug,
      json: {
        name: options.app,
        lockfileVersion: 3,
        packages: Object.fromEntries([
          ['', { name: options.app }],
          ...names.map((name) => [`node_modules/${name}`, { version: '1.0.0', integrity: integrity[name] }]),
        ]),
      },
    });
    expect(submitted.status).toBe(202);
  };
  await submit(member, options.lockfile ?? Object.keys(options.tarballs));
  const settledIn = options.settledIn ?? ['published', 'awaiting_approval', 'failed', 'rejected'];
  const status = async (spec: string, user: SignedInUser) => {
    const res = await t.request(`/v1/packages/${encodeURIComponent(spec)}`, {
      token: user.token,
      tenant: user.tenantSlug,
      headers: { 'x-min-position': (await lastWritten(t.database.db)).toString() },
    });
    return (await res.json()) as LooseJson;
  };
  return {
    t,
    upstream,
    target,
    member,
    submit,
    importAdvisories,
    async settled(spec, user = member) {
      let last: LooseJson = {};
      await waitUntil(
        `${spec} settled`,
        async () => {
          last = await status(spec, user);
          return settledIn.includes(last.status);
        },
        60_000,
      );
      return last;
    },
    async stop() {
      await jobs.stop(5000);
      await worker.stop();
      await t.dispose();
      await Promise.all([upstream.stop(), target.stop()]);
      rmSync(osv, { recursive: true, force: true });
    },
  };
}
