import type { Database } from '../db/database.ts';
import { type JobTables, listWorkers, queueDepth, viewAs } from '../processes/runtime/index.ts';
import type { ProjectionEngine } from '../projections/engine/index.ts';
import { workspaceTraffic } from '../workspaces/index.ts';
import type { Metrics } from './metrics.ts';

/** Gauges read at scrape time: the database pool, and from the database projections, job queues, workers. */
export function registerGauges(
  metrics: Metrics,
  deps: { database: Database; engine: Pick<ProjectionEngine, 'status'>; clock?: () => Date },
) {
  const clock = deps.clock ?? (() => new Date());
  registerPoolGauges(metrics, deps.database);
  metrics.gauge(
    'warden_projection_lag_events',
    'Events a projection is behind the head of the store',
    ['projection'],
    async () => (await deps.engine.status()).map((p) => ({ labels: { projection: p.name }, value: p.lag })),
  );
  metrics.gauge(
    'warden_projection_state',
    'A projection’s state (1 for the state it is in)',
    ['projection', 'state'],
    async () =>
      (await deps.engine.status()).map((p) => ({ labels: { projection: p.name, state: p.state }, value: 1 })),
  );
  metrics.gauge(
    'warden_job_queue_depth',
    'Jobs queued, by queue, kind and state (due, running, delayed)',
    ['queue', 'kind', 'state'],
    async () =>
      (await queueDepth(viewAs<JobTables>(deps.database.db))).flatMap((q) =>
        (['due', 'running', 'delayed'] as const).map((state) => ({
          labels: { queue: q.queue, kind: q.kind, state },
          value: q[state],
        })),
      ),
  );
  metrics.gauge(
    'warden_worker_heartbeat_age_seconds',
    'Seconds since each worker’s last heartbeat (state live, missing or stopped)',
    ['worker', 'state'],
    async () => {
      const now = clock().getTime();
      return (await listWorkers(deps.database)).map((w) => ({
        labels: { worker: w.id, state: w.state },
        value: Math.max(0, (now - new Date(w.lastHeartbeat).getTime()) / 1000),
      }));
    },
  );
  // Labelled by tenant only: a label per workspace would make a series per workspace, unbounded.
  const traffic = workspaceTraffic(deps.database.db as Parameters<typeof workspaceTraffic>[0]);
  metrics.counter(
    'warden_workspace_requests_total',
    'Requests to workspaces through nginx, by tenant (read from the access log)',
    ['tenant'],
    async () => (await traffic.totals()).map((t) => ({ labels: { tenant: t.tenantId }, value: t.requests })),
  );
  metrics.counter(
    'warden_workspace_bytes_total',
    'Bytes to (in) and from (out) workspaces through nginx, by tenant',
    ['tenant', 'direction'],
    async () =>
      (await traffic.totals()).flatMap((t) => [
        { labels: { tenant: t.tenantId, direction: 'in' }, value: t.bytesIn },
        { labels: { tenant: t.tenantId, direction: 'out' }, value: t.bytesOut },
      ]),
  );
}

/** The database pool, read from memory at scrape time (never from the database, so a full pool still reports). */
export function registerPoolGauges(metrics: Metrics, database: Pick<Database, 'poolStats'>) {
  metrics.gauge(
    'warden_db_pool_connections',
    'Database connections by state: total (open), idle, max (the pool size); PGlite is one session',
    ['state'],
    async () => {
      const pool = database.poolStats();
      return (['total', 'idle', 'max'] as const).map((state) => ({ labels: { state }, value: pool[state] }));
    },
  );
  metrics.gauge('warden_db_pool_waiting', 'Queries waiting for a database connection', [], async () => [
    { labels: {}, value: database.poolStats().waiting },
  ]);
}
