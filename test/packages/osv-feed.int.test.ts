import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADVISORY_FEED_STREAM, packageIdFor, packageStreamId } from '../../src/commands/packages/index.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { syncOsvFeed } from '../../src/packages/osv/feed.ts';
import type { PackageJobs } from '../../src/processes/packages/jobs.ts';
import { type OsvFeedSync, startOsvFeedSync } from '../../src/processes/packages/osv-feed-sync.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { serviceWorkers, testPackageJobs, waitUntil } from '../processes/support.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { publishFixture } from '../support/fixture-packages.ts';
import { databaseKinds } from '../support/postgres.ts';
import { type Registry, startVerdaccio } from '../support/verdaccio.ts';
import { lastWritten } from '../support/visibility.ts';

const advisory = (id: string, name: string, fixed: string, modified = '2026-11-20T00:00:00Z') =>
  JSON.stringify({
    id,
    modified,
    summary: `Advisory ${id} for ${name}`,
    severity: [{ type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' }],
    affected: [
      {
        package: { ecosystem: 'npm', name },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed }] }],
      },
    ],
  });

const zipOf = (files: Record<string, string | Uint8Array>) =>
  zipSync(
    Object.fromEntries(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? strToU8(v) : v])),
  );

/**
 * The OSV export as a static file server publishes it: a zip with a strong ETag, a 304 for a
 * matching `If-None-Match`. The test swaps the archive, or makes the feed answer 500.
 */
async function feedServer() {
  let body: Uint8Array = zipOf({});
  let etag = '""';
  let failing = false;
  const requests: { ifNoneMatch: string | undefined; status: number }[] = [];
  const server: Server = createServer((req, res) => {
    const ifNoneMatch = req.headers['if-none-match'];
    const answer = (status: number, headers: Record<string, string | number> = {}, bytes?: Uint8Array) => {
      requests.push({ ifNoneMatch, status });
      res.writeHead(status, headers);
      res.end(bytes);
    };
    if (failing) return answer(500, { 'content-type': 'text/plain' }, strToU8('feed down'));
    if (ifNoneMatch === etag) return answer(304, { etag });
    answer(200, { etag, 'content-type': 'application/zip', 'content-length': body.length }, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/npm/all.zip`,
    requests,
    current: () => body,
    serve(bytes: Uint8Array) {
      body = bytes;
      etag = `"${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"`;
    },
    fail: (on: boolean) => {
      failing = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

for (const kind of databaseKinds) {
  // Budgets, not expectations: every wait polls for its outcome (a CI run under load 20 hit the 60 s default).
  describe(`OSV feed sync from a local HTTP server (${kind.name})`, { timeout: 300_000 }, () => {
    let t: TestApp;
    let upstream: Registry;
    let target: Registry;
    let worker: Worker;
    let jobs: PackageJobs;
    let member: SignedInUser;
    let feed: Awaited<ReturnType<typeof feedServer>>;
    const syncs: OsvFeedSync[] = [];
    const logLines: string[] = [];
    const metrics = createMetrics();
    let integrity = '';

    const call = async (path: string, init: { json?: unknown } = {}) => {
      const res = await t.request(path, {
        token: member.token,
        tenant: member.tenantSlug,
        headers: { 'x-min-position': (await lastWritten(t.database.db)).toString() },
        ...init,
      });
      return { status: res.status, body: (await res.json()) as LooseJson };
    };
    const packageStatus = async (spec: string) =>
      (await call(`/v1/packages/${encodeURIComponent(spec)}`)).body;
    const advisoryIds = async () =>
      (
        await (t.database.db as never as TestDb)
          .selectFrom('warden_advisories')
          .select('id')
          .orderBy('id')
          .execute()
      ).map((r) => r.id);
    const feedEvents = async () => (await t.store.readStream(ADVISORY_FEED_STREAM)).length;
    const sync = () =>
      syncOsvFeed({
        db: t.database.db as never,
        store: t.store,
        url: feed.url,
        timeoutMs: 10_000,
        maxDownloadBytes: 10 * 1024 * 1024,
        maxEntryBytes: 256 * 1024,
      });
    const scheduler = (owner: string) => {
      const s = startOsvFeedSync({
        config: {
          WARDEN_OSV_URL: feed.url,
          WARDEN_OSV_SYNC_INTERVAL_MS: 1000,
          WARDEN_OSV_TIMEOUT_MS: 10_000,
          WARDEN_OSV_MAX_DOWNLOAD_BYTES: 10 * 1024 * 1024,
          WARDEN_OSV_MAX_ENTRY_BYTES: 256 * 1024,
        },
        database: t.database,
        store: t.store,
        owner,
        logger: createLogger('info', { write: (line: string) => void logLines.push(line) }),
        onOutcome: (result) => metrics.osvSyncs.inc({ result }),
        tickMs: 50,
        leaseMs: 3000,
      });
      syncs.push(s);
      return s;
    };
    const syncMetric = async (result: string) => {
      const { body } = await metrics.render();
      const line = body
        .split('\n')
        .find((l: string) => l.startsWith(`warden_osv_syncs_total{result="${result}"}`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };

    beforeAll(async () => {
      [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
      integrity = (await publishFixture(upstream, { name: 'feed-watched', version: '1.0.0' })).integrity;
      feed = await feedServer();
      feed.serve(zipOf({ 'GHSA-feed-0001.json': advisory('GHSA-feed-0001', 'feed-other', '2.0.0') }));
      t = await testApp(kind.fresh, {
        env: {
          WARDEN_UPSTREAM_REGISTRY: upstream.url,
          WARDEN_TARGET_REGISTRY: target.url,
          WARDEN_TARGET_REGISTRY_TOKEN: target.token,
          // A budget, not a behaviour under test: no registry here stays silent.
          WARDEN_REGISTRY_TIMEOUT_MS: '120000',
        },
      });
      worker = await serviceWorkers(t);
      jobs = testPackageJobs(t, worker.id);
      const { slug } = await t.tenant();
      member = await t.user({ tenant: slug, role: 'member' });
    }, 300_000);

    afterAll(async () => {
      for (const s of syncs) await s.stop();
      await jobs?.stop(5000);
      await worker?.stop();
      await t?.dispose();
      await feed?.close();
      await Promise.all([upstream?.stop(), target?.stop()]);
    });

    it('imports the feed once, then a second sync is a 304 that imports nothing; one process of two syncs', async () => {
      const first = scheduler('feed-a');
      expect(await first.nextOutcome()).toMatchObject({ result: 'imported', import: { changed: 1 } });
      // A second process competes for the lease every 50 ms while the first one holds it.
      const second = scheduler('feed-b');
      expect(await advisoryIds()).toEqual(['GHSA-feed-0001']);
      expect(await feedEvents()).toBe(1);
      // The next sync is due after the interval and sends the ETag back.
      expect(await first.nextOutcome()).toEqual({ result: 'not_modified' });
      expect(feed.requests.map((r) => r.status)).toEqual([200, 304]);
      expect(feed.requests[1]!.ifNoneMatch).toMatch(/^"[0-9a-f]{16}"$/);
      expect(await feedEvents()).toBe(1);
      expect([first.leading(), second.leading()]).toEqual([true, false]);
      expect(await syncMetric('imported')).toBe(1);
      expect(await syncMetric('not_modified')).toBe(1);
      await first.stop();
      await second.stop();
      // The state is the cluster's: another process's first sync still sends the stored ETag.
      expect(await sync()).toEqual({ result: 'not_modified' });
      expect(feed.requests.at(-1)).toEqual({ ifNoneMatch: feed.requests[1]!.ifNoneMatch, status: 304 });
    });

    it('a changed archive adds the new advisory and monitoring flags a package already published', async () => {
      const submitted = await call('/v1/package-requests', {
        json: {
          name: 'feed-app',
          lockfileVersion: 3,
          packages: {
            '': { name: 'feed-app' },
            'node_modules/feed-watched': { version: '1.0.0', integrity },
          },
        },
      });
      expect(submitted.status).toBe(202);
      await waitUntil(
        'feed-watched published',
        async () => (await packageStatus('feed-watched@1.0.0')).status === 'published',
        240_000,
      );
      expect((await packageStatus('feed-watched@1.0.0')).attention).toBe(false);
      feed.serve(
        zipOf({
          'GHSA-feed-0001.json': advisory('GHSA-feed-0001', 'feed-other', '2.0.0'),
          'GHSA-feed-0002.json': advisory('GHSA-feed-0002', 'feed-watched', '1.0.1'),
        }),
      );
      expect(await sync()).toMatchObject({
        result: 'imported',
        import: { total: 2, changed: 1, recorded: true },
      });
      expect(await advisoryIds()).toEqual(['GHSA-feed-0001', 'GHSA-feed-0002']);
      await waitUntil(
        'attention',
        async () => (await packageStatus('feed-watched@1.0.0')).attention === true,
        120_000,
      );
      expect((await packageStatus('feed-watched@1.0.0')).findings).toEqual([
        expect.objectContaining({ id: 'GHSA-feed-0002', severity: 'critical', fixVersion: '1.0.1' }),
      ]);
      const stream = await t.store.readStream(
        packageStreamId(await packageIdFor(member.tenantId, 'feed-watched@1.0.0')),
      );
      expect(stream.filter((e) => e.type === 'FindingDiscovered')).toHaveLength(1);
      expect(await sync()).toEqual({ result: 'not_modified' });
    });

    it('abuse: a 500, a non-zip body, a zip bomb and a path-traversal entry leave the previous data; errors are logged and metered', async () => {
      const before = { ids: await advisoryIds(), events: await feedEvents(), archive: feed.current() };
      const lastGood = feed.requests.findLast((r) => r.status === 200);
      expect(lastGood).toBeDefined();
      feed.fail(true);
      expect(await sync()).toEqual({ result: 'failed', error: 'the feed answered HTTP 500' });
      feed.fail(false);
      const hostile: [string, Uint8Array, string][] = [
        ['not a zip', strToU8('<html>maintenance</html>'), 'not a zip archive'],
        [
          'zip bomb',
          zipOf({
            'GHSA-feed-0003.json': advisory('GHSA-feed-0003', 'feed-watched', '9.0.0'),
            'GHSA-bomb.json': new Uint8Array(16 * 1024 * 1024).fill(32),
          }),
          'more than the 262144-byte cap',
        ],
        [
          'path traversal',
          zipOf({
            'GHSA-feed-0004.json': advisory('GHSA-feed-0004', 'feed-watched', '9.0.0'),
            '../../../tmp/GHSA-evil.json': advisory('GHSA-evil', 'feed-watched', '9.0.0'),
          }),
          'invalid relative path',
        ],
      ];
      for (const [what, bytes, error] of hostile) {
        feed.serve(bytes);
        const outcome = await sync();
        expect(outcome, what).toMatchObject({ result: 'failed', error: expect.stringContaining(error) });
        expect(await advisoryIds(), what).toEqual(before.ids);
      }
      expect(await feedEvents()).toBe(before.events);
      // Through the scheduler: logged with the feed's address (no query), counted as failed.
      const s = scheduler('feed-c');
      expect(await s.nextOutcome()).toMatchObject({ result: 'failed' });
      await s.stop();
      expect(await syncMetric('failed')).toBe(1);
      const logged = logLines
        .map((l) => JSON.parse(l))
        .find((l) => l.msg?.startsWith('OSV feed sync failed'));
      expect(logged).toMatchObject({
        level: 50,
        feed: feed.url,
        error: expect.stringContaining('invalid relative path'),
      });
      // A failed sync keeps the last good validators: the restored archive is a 304 again.
      feed.serve(before.archive);
      expect(await sync()).toEqual({ result: 'not_modified' });
    });
  });
}

type TestDb = import('kysely').Kysely<{ warden_advisories: { id: string } }>;
