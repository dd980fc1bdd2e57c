import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADVISORY_FEED_STREAM,
  defaultPolicy,
  packageIdFor,
  packageStreamId,
} from '../../src/commands/packages/index.ts';
import { importOsv } from '../../src/packages/osv-import.ts';
import type { PackageJobs } from '../../src/processes/packages/jobs.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { serviceWorkers, testPackageJobs } from '../processes/support.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { gzip, packTarball, publishFixture, tarBomb } from '../support/fixture-packages.ts';
import { databaseKinds } from '../support/postgres.ts';
import { type Registry, startVerdaccio } from '../support/verdaccio.ts';
import { lastWritten } from '../support/visibility.ts';

/**
 * A proxy in front of the upstream Verdaccio that can fail a path with 503 a number of times (a
 * flaky registry), or never answer it (a stalled one): what a real registry will not do on request.
 * What it serves it takes from Verdaccio once, before the tests (`keep`), and then answers from memory
 * at once: a loaded machine slows Verdaccio down, and a registry that is merely slow must not turn a
 * tar bomb into an `unavailable` registry.
 */
async function flakyProxy(target: string) {
  const failures = new Map<string, number>();
  const seen = new Map<string, number>();
  const stalled = new Set<string>();
  const kept = new Map<string, { status: number; type: string; body: Uint8Array | string }>();
  const fromUpstream = async (path: string, accept = 'application/json, */*') => {
    const upstream = await fetch(`${target}${path}`, { headers: { accept } });
    const body = new Uint8Array(await upstream.arrayBuffer());
    const type = upstream.headers.get('content-type') ?? 'application/octet-stream';
    // The packument's tarball addresses point at the proxy, as a registry's own would.
    return {
      status: upstream.status,
      type,
      body: type.includes('json') ? new TextDecoder().decode(body).replaceAll(target, url) : body,
    };
  };
  const server: Server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    seen.set(path, (seen.get(path) ?? 0) + 1);
    if (stalled.has(path)) return;
    const left = failures.get(path) ?? 0;
    if (left > 0) {
      failures.set(path, left - 1);
      res.writeHead(503).end('try later');
      return;
    }
    const answer = kept.get(path) ?? (await fromUpstream(path, req.headers.accept));
    res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    /** Takes what `paths` answer now from Verdaccio, to answer it from memory from then on. */
    keep: async (paths: string[]) => {
      for (const path of paths) kept.set(path, await fromUpstream(path));
    },
    fail: (path: string, times: number) => failures.set(path, times),
    stall: (path: string) => stalled.add(path),
    seen: (path: string) => seen.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Budget for a registry that answers: far more than any answer takes, even on a machine loaded to 30. */
const ANSWERING_REGISTRY_TIMEOUT_MS = 120_000;
/** The timeout the registry that never answers runs into, three times (WARDEN_PACKAGE_MAX_ATTEMPTS). */
const STALLED_REGISTRY_TIMEOUT_MS = 5000;

const lockfileOf = (entries: Record<string, { version: string; integrity?: string; name?: string }>) => ({
  name: 'pipeline-app',
  lockfileVersion: 3,
  packages: Object.fromEntries([
    ['', { name: 'pipeline-app' }],
    ...Object.entries(entries).map(([name, e]) => [`node_modules/${name}`, e]),
  ]),
});

for (const kind of databaseKinds) {
  // Budgets, not expectations: each test polls for the outcome, which arrives as soon as it is there.
  describe(`package pipeline with real registries (${kind.name})`, { timeout: 600_000 }, () => {
    let t: TestApp;
    let upstream: Registry;
    let target: Registry;
    let proxy: Awaited<ReturnType<typeof flakyProxy>>;
    let worker: Worker;
    let jobs: PackageJobs;
    let member: SignedInUser;
    let root: SignedInUser;
    const integrity: Record<string, string> = {};
    const osv = mkdtempSync(join(tmpdir(), 'warden-osv-pipeline-'));

    const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
      const res = await t.request(path, {
        token: user.token,
        tenant: user.tenantSlug,
        headers: { 'x-min-position': (await lastWritten(t.database.db)).toString() },
        ...init,
      });
      return { status: res.status, body: (await res.json()) as LooseJson };
    };
    const status = async (spec: string) =>
      (await call(member, `/v1/packages/${encodeURIComponent(spec)}`)).body;
    const settle = (spec: string, statuses: string[]) =>
      expect
        .poll(async () => (await status(spec)).status, { timeout: 240_000, interval: 50 })
        .toBeOneOf(statuses);
    /**
     * The job runner, with the registry timeout it is given: generous by default (a registry that
     * answers is never cut off, however loaded the machine), short only while a test waits for it to
     * give up on a registry that never answers.
     */
    const runJobs = async (registryTimeoutMs: number) => {
      await jobs?.stop(5000);
      jobs = testPackageJobs(
        { ...t, config: { ...t.config, WARDEN_REGISTRY_TIMEOUT_MS: registryTimeoutMs } },
        worker.id,
      );
    };

    beforeAll(async () => {
      [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
      proxy = await flakyProxy(upstream.url);
      const names = ['pl-flaky', 'pl-down', 'pl-watched', 'pl-stalled'];
      for (const name of names) {
        integrity[name] = (await publishFixture(upstream, { name, version: '1.0.0' })).integrity;
      }
      integrity['pl-bomb'] = (
        await publishFixture(
          upstream,
          { name: 'pl-bomb', version: '1.0.0' },
          { tarball: await tarBomb({ name: 'pl-bomb', version: '1.0.0' }, 4 * 1024 * 1024) },
        )
      ).integrity;
      const whole = await packTarball({
        name: 'pl-truncated',
        version: '1.0.0',
        files: { 'big.txt': 'x'.repeat(50_000) },
      });
      integrity['pl-truncated'] = (
        await publishFixture(
          upstream,
          { name: 'pl-truncated', version: '1.0.0' },
          { tarball: whole.subarray(0, Math.floor(whole.length / 2)) },
        )
      ).integrity;
      integrity['pl-notgzip'] = (
        await publishFixture(
          upstream,
          { name: 'pl-notgzip', version: '1.0.0' },
          { tarball: await gzip(new TextEncoder().encode('not a tar at all')) },
        )
      ).integrity;
      names.push('pl-bomb', 'pl-truncated', 'pl-notgzip');
      await proxy.keep([
        ...names.flatMap((name) => [`/${name}`, `/${name}/1.0.0`, `/${name}/-/${name}-1.0.0.tgz`]),
        '/pl-missing',
        '/pl-missing/9.9.9',
      ]);
      writeFileSync(
        join(osv, 'GHSA-none-0000.json'),
        JSON.stringify({
          id: 'GHSA-none-0000',
          modified: '2026-01-01T00:00:00Z',
          affected: [{ package: { ecosystem: 'npm', name: 'pl-unrelated' }, versions: ['1.0.0'] }],
        }),
      );

      t = await testApp(kind.fresh, {
        env: {
          WARDEN_UPSTREAM_REGISTRY: proxy.url,
          WARDEN_TARGET_REGISTRY: target.url,
          WARDEN_TARGET_REGISTRY_TOKEN: target.token,
          WARDEN_PACKAGE_MAX_ATTEMPTS: '3',
          WARDEN_MAX_UNPACKED_BYTES: String(1024 * 1024),
          WARDEN_REGISTRY_TIMEOUT_MS: String(ANSWERING_REGISTRY_TIMEOUT_MS),
          // A budget: under load 25 a sign-in on PGlite ran past the default 30 s and answered 503.
          WARDEN_REQUEST_TIMEOUT_MS: '120000',
        },
      });
      await importOsv({ db: t.database.db as never, store: t.store, path: osv });
      worker = await serviceWorkers(t);
      await runJobs(ANSWERING_REGISTRY_TIMEOUT_MS);
      const { slug } = await t.tenant();
      member = await t.user({ tenant: slug, role: 'member' });
      root = await t.superadmin(slug);
    }, 300_000);

    afterAll(async () => {
      await jobs?.stop(5000);
      await worker?.stop();
      await t?.dispose();
      await proxy?.close();
      await Promise.all([upstream?.stop(), target?.stop()]);
      rmSync(osv, { recursive: true, force: true });
    });

    it('retries a flaky registry with backoff; fails a registry that stays down as retryable, and a retry later publishes it', async () => {
      proxy.fail('/pl-flaky/-/pl-flaky-1.0.0.tgz', 2);
      proxy.fail('/pl-down/-/pl-down-1.0.0.tgz', 1000);
      const submitted = await call(member, '/v1/package-requests', {
        json: lockfileOf({
          'pl-flaky': { version: '1.0.0', integrity: integrity['pl-flaky']! },
          'pl-down': { version: '1.0.0', integrity: integrity['pl-down']! },
        }),
      });
      expect(submitted.status).toBe(202);
      await settle('pl-flaky@1.0.0', ['published']);
      expect(proxy.seen('/pl-flaky/-/pl-flaky-1.0.0.tgz')).toBe(3);
      await settle('pl-down@1.0.0', ['failed']);
      expect((await status('pl-down@1.0.0')).failure).toEqual({
        stage: 'download',
        code: 'unavailable',
        retryable: true,
        attempts: 3,
      });
      proxy.fail('/pl-down/-/pl-down-1.0.0.tgz', 0);
      expect(
        (await call(root, `/v1/packages/${encodeURIComponent('pl-down@1.0.0')}/retry`, { json: {} })).status,
      ).toBe(200);
      await settle('pl-down@1.0.0', ['published']);
      const request = await call(member, `/v1/package-requests/${submitted.body.id}`);
      expect(request.body).toMatchObject({ status: 'completed', progress: { done: 2, total: 2 } });
    });

    it('a registry that never answers: the worker shows the job (stage, package) while it waits, then the package fails, retryable, with the timeout as its reason', async () => {
      proxy.stall('/pl-stalled/-/pl-stalled-1.0.0.tgz');
      // Only this test's package is in the pipeline now: the short timeout can cut off no other.
      await runJobs(STALLED_REGISTRY_TIMEOUT_MS);
      try {
        await call(member, '/v1/package-requests', {
          json: lockfileOf({ 'pl-stalled': { version: '1.0.0', integrity: integrity['pl-stalled']! } }),
        });
        const subject = packageStreamId(await packageIdFor(member.tenantId, 'pl-stalled@1.0.0'));
        let shown: LooseJson | undefined;
        await expect
          .poll(
            async () => {
              const workers = await call(root, '/v1/admin/workers');
              const me = workers.body.items.find((w: { id: string }) => w.id === worker.id);
              shown = me?.jobs.find((j: { subject: string }) => j.subject === subject);
              return shown;
            },
            { timeout: 120_000, interval: 25 },
          )
          .toBeDefined();
        expect(shown).toMatchObject({ queue: 'packages', stage: 'process', spec: 'pl-stalled@1.0.0' });
        expect(shown!.running_ms).toBeGreaterThanOrEqual(0);
        await settle('pl-stalled@1.0.0', ['failed']);
        const failed = await status('pl-stalled@1.0.0');
        expect(failed.failure).toEqual({
          stage: 'download',
          code: 'unavailable',
          retryable: true,
          attempts: 3,
        });
        expect(failed.reason).toContain(`no answer within ${STALLED_REGISTRY_TIMEOUT_MS} ms`);
        expect((await fetch(`${target.url}/pl-stalled`)).status).toBe(404);
      } finally {
        await runJobs(ANSWERING_REGISTRY_TIMEOUT_MS);
      }
    });

    it('fails for good, with the reason, what cannot succeed: a tar bomb, a truncated or non-tar tarball, an unknown version', async () => {
      await call(member, '/v1/package-requests', {
        json: lockfileOf({
          'pl-bomb': { version: '1.0.0', integrity: integrity['pl-bomb']! },
          'pl-truncated': { version: '1.0.0', integrity: integrity['pl-truncated']! },
          'pl-notgzip': { version: '1.0.0', integrity: integrity['pl-notgzip']! },
          'pl-missing': { version: '9.9.9' },
        }),
      });
      const expected = {
        'pl-bomb@1.0.0': 'unpacked_too_large',
        'pl-truncated@1.0.0': 'malformed_tarball',
        'pl-notgzip@1.0.0': 'malformed_tarball',
        'pl-missing@9.9.9': 'not_found',
      };
      for (const [spec, code] of Object.entries(expected)) {
        await settle(spec, ['failed']);
        expect((await status(spec)).failure, spec).toMatchObject({
          stage: 'download',
          code,
          retryable: false,
        });
      }
      for (const name of ['pl-bomb', 'pl-truncated', 'pl-missing'])
        expect((await fetch(`${target.url}/${name}`)).status).toBe(404);
    });

    it('new advisory data flags a package already published (continuous monitoring)', async () => {
      await call(member, '/v1/package-requests', {
        json: lockfileOf({ 'pl-watched': { version: '1.0.0', integrity: integrity['pl-watched']! } }),
      });
      await settle('pl-watched@1.0.0', ['published']);
      expect((await status('pl-watched@1.0.0')).attention).toBe(false);
      writeFileSync(
        join(osv, 'GHSA-watc-hed0-0001.json'),
        JSON.stringify({
          id: 'GHSA-watc-hed0-0001',
          modified: '2026-11-20T00:00:00Z',
          summary: 'Prototype pollution in pl-watched',
          database_specific: { severity: 'HIGH' },
          affected: [
            {
              package: { ecosystem: 'npm', name: 'pl-watched' },
              ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1.0.1' }] }],
            },
          ],
        }),
      );
      const imported = await importOsv({ db: t.database.db as never, store: t.store, path: osv });
      expect(imported).toMatchObject({ total: 2, changed: 1, recorded: true });
      expect((await t.store.readStream(ADVISORY_FEED_STREAM)).map((e) => e.type)).toEqual([
        'AdvisoriesImported',
        'AdvisoriesImported',
      ]);
      await expect
        .poll(async () => (await status('pl-watched@1.0.0')).attention, { timeout: 120_000, interval: 50 })
        .toBe(true);
      const flagged = await call(member, '/v1/packages?attention=true');
      expect(flagged.body.items.map((p: { spec: string }) => p.spec)).toEqual(['pl-watched@1.0.0']);
      expect(flagged.body.items[0].findings).toEqual([
        expect.objectContaining({ id: 'GHSA-watc-hed0-0001', severity: 'high', fixVersion: '1.0.1' }),
      ]);
      const stream = await t.store.readStream(
        packageStreamId(await packageIdFor(member.tenantId, 'pl-watched@1.0.0')),
      );
      const discovered = stream.filter((e) => e.type === 'FindingDiscovered');
      expect(discovered).toHaveLength(1);
      expect(discovered[0]!.metadata.tenantId).toBe(member.tenantId);
      // Importing the same data again changes nothing and records nothing.
      expect(await importOsv({ db: t.database.db as never, store: t.store, path: osv })).toMatchObject({
        changed: 0,
        recorded: false,
      });
    });

    it('shows each worker with its heartbeat and partitions, and stats with stage durations', async () => {
      const workers = await call(root, '/v1/admin/workers');
      expect(workers.status).toBe(200);
      const me = workers.body.items.find((w: { id: string }) => w.id === worker.id);
      expect(me).toMatchObject({
        state: 'live',
        processes: expect.arrayContaining(['packagePipeline', 'advisoryMonitor']),
      });
      expect(me.heartbeat_age_ms).toBeLessThan(10_000);
      const stats = await call(root, '/v1/admin/stats');
      expect(stats.body.packages.counts.published).toBeGreaterThanOrEqual(3);
      const total = stats.body.packages.stages.find((s: { stage: string }) => s.stage === 'total');
      expect(total.count).toBeGreaterThanOrEqual(3);
      expect(total.p95_ms).toBeGreaterThanOrEqual(total.p50_ms);
      expect(stats.body.queues).toEqual([]);
      expect(defaultPolicy.auto_approve_clean).toBe(true);
    });
  });
}
