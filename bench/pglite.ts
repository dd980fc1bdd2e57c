/**
 * `npm run bench:pglite` — embedded PGlite (what `npm start` runs on) is one session shared by
 * requests and background work. An issue list request's latency while the projections catch up on
 * BENCH_PGLITE_ISSUES issues (default 30,000) appended with the projections stopped, against the
 * same request with nothing else running, in one app (`warden serve`'s polls and caches). During the
 * catch-up a request leaves every 100 ms whatever the last one's answer (an open loop, as users'
 * clicks arrive), until the issue list holds every issue. Target: the p95 during the catch-up within
 * 250 ms (a list that still answers in a quarter of a second while the read models catch up). Then
 * the same open loop while an operator rebuilds the issue list (`ProjectionEngine.rebuild`), printed
 * beside it (no target of its own).
 * Not a test: it prints figures; the last line is one JSON object.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { projectContext } from '../src/commands/tracker/index.ts';
import type { NewEvent } from '../src/eventstore/port.ts';
import { testApp } from '../test/support/app.ts';
import { freshPGlite } from '../test/support/databases.ts';
import { appendNewStreams, issueMaker, listedIssues } from './support/issues.ts';
import { round, verdict } from './support/report.ts';

const ISSUES = Number(process.env.BENCH_PGLITE_ISSUES ?? 30_000);
const IDLE_SAMPLES = 60;
const EVERY_MS = 100;
const PER_TRANSACTION = 500;
const TARGET_P95_MS = 250;
const log = (line: string) => process.stdout.write(`${line}\n`);

const percentile = (samples: readonly number[], p: number) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
};
const figures = (samples: readonly number[]) => ({
  n: samples.length,
  p50: round(percentile(samples, 0.5), 1),
  p95: round(percentile(samples, 0.95), 1),
  max: round(percentile(samples, 1), 1),
});

const t = await testApp(freshPGlite, { serve: true, env: { WARDEN_TENANT_CACHE_TTL_MS: '30000' } });
try {
  const slug = (await t.tenant()).slug;
  const lead = await t.user({ tenant: slug, role: 'owner' });
  const call = async (path: string, init: { json?: unknown; method?: string } = {}) => {
    const res = await t.request(path, { token: lead.token, tenant: slug, ...init });
    if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  const created = await call('/v1/projects', {
    json: { key: 'PG', name: 'PGlite bench', labels: ['api', 'ui', 'db', 'ops'] },
  });
  const project = { id: created.id as string, key: 'PG' };
  const timedList = async (into: number[]) => {
    const started = performance.now();
    await call('/v1/projects/PG/issues?status=open&sort=-updated_at&limit=20');
    into.push(performance.now() - started);
  };
  log(`bench:pglite — ${ISSUES.toLocaleString('en-US')} issues, a list request every ${EVERY_MS} ms`);

  const idle: number[] = [];
  for (let i = 0; i < IDLE_SAMPLES; i++) await timedList(idle);

  // The issues, appended with the projections stopped, so the catch-up starts with all of them.
  await t.engine.stop();
  const context = await projectContext(t.store, lead.tenantId, project.id);
  const makeIssue = issueMaker();
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (let first = 1; first <= ISSUES; first += PER_TRANSACTION) {
    const appends: { streamId: string; events: NewEvent[] }[] = [];
    for (let n = first; n < Math.min(first + PER_TRANSACTION, ISSUES + 1); n++) {
      appends.push(
        await makeIssue({
          tenantId: lead.tenantId,
          actorId: lead.userId,
          assigneeId: lead.userId,
          project,
          context,
          number: n,
          at: new Date(start + n * 1000).toISOString(),
        }),
      );
    }
    await appendNewStreams(t.database, appends);
  }

  const busy: number[] = [];
  const loads: number[] = [];
  const caughtUpAt = performance.now();
  await t.engine.start();
  let caughtUp = false;
  const watching = (async () => {
    while ((await listedIssues(t.database)) < ISSUES)
      await new Promise((resolve) => setTimeout(resolve, 100));
    caughtUp = true;
  })();
  const requests: Promise<void>[] = [];
  while (!caughtUp) {
    requests.push(timedList(busy));
    loads.push(loadavg()[0] ?? 0);
    await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
  }
  await watching;
  const catchUpSeconds = (performance.now() - caughtUpAt) / 1000;
  await Promise.all(requests);

  // An operator's rebuild of the issue list, with the same open loop of requests.
  const rebuilding: number[] = [];
  let rebuilt = false;
  const rebuildStarted = performance.now();
  const rebuild = t.engine.rebuild('issueList').finally(() => {
    rebuilt = true;
  });
  const duringRebuild: Promise<void>[] = [];
  while (!rebuilt) {
    duringRebuild.push(timedList(rebuilding));
    await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
  }
  const rebuildEvents = (await rebuild).events;
  const rebuildSeconds = (performance.now() - rebuildStarted) / 1000;
  await Promise.all(duringRebuild);

  const quiet = figures(idle);
  const during = figures(busy);
  const whileRebuilding = figures(rebuilding);
  log(`idle: ${quiet.n} list requests one after another, p50 ${quiet.p50} ms, p95 ${quiet.p95} ms`);
  log(
    `during the catch-up (${round(catchUpSeconds, 1)} s, ${Math.round(ISSUES / catchUpSeconds).toLocaleString('en-US')} issues/s): ` +
      `${during.n} list requests, p50 ${during.p50} ms, p95 ${during.p95} ms, max ${during.max} ms ` +
      `(p95 ${round(during.p95 / quiet.p95, 1)}× idle); load ${round(Math.min(...loads), 1)}–${round(Math.max(...loads), 1)}`,
  );
  log(
    `during a rebuild of the issue list (${round(rebuildSeconds, 1)} s, ${rebuildEvents.toLocaleString('en-US')} events): ` +
      `${whileRebuilding.n} list requests, p50 ${whileRebuilding.p50} ms, p95 ${whileRebuilding.p95} ms, max ${whileRebuilding.max} ms`,
  );
  const verdicts = [verdict('list p95 ms during a catch-up', during.p95, '≤', TARGET_P95_MS)];
  log(
    `list p95 during the catch-up: ${during.p95} ms (target ≤ ${TARGET_P95_MS}): ${verdicts[0]!.met ? 'met' : 'MISSED'}`,
  );
  log(
    JSON.stringify({
      issues: ISSUES,
      idle: quiet,
      during,
      catch_up_s: round(catchUpSeconds, 2),
      rebuild: { ...whileRebuilding, seconds: round(rebuildSeconds, 2), events: rebuildEvents },
      verdicts,
    }),
  );
} finally {
  await t.dispose();
}
