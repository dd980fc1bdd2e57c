import type { Kysely } from 'kysely';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { EventStore } from './eventstore/port.ts';
import type { Logger } from './logger.ts';
import { SingletonLease } from './processes/runtime/index.ts';
import {
  type AgentKeys,
  AgentMonitor,
  NginxRouter,
  Reconciler,
  sampleAgentStats,
  TRAFFIC_RETENTION_MS,
  TrafficTailer,
  workspaceAccessUrl,
  workspaceTraffic,
} from './workspaces/index.ts';

export interface WorkspaceBackgroundOptions {
  config: Pick<
    Config,
    | 'WARDEN_WORKSPACE_DOMAIN'
    | 'WARDEN_WORKSPACE_ACCESS_URL'
    | 'WARDEN_WORKSPACE_PATH_ROUTES'
    | 'PORT'
    | 'WARDEN_NGINX_CONFIG'
    | 'WARDEN_NGINX_COMMAND'
    | 'WARDEN_NGINX_PID_FILE'
    | 'WARDEN_NGINX_LISTEN'
    | 'WARDEN_NGINX_SYNC_MS'
    | 'WARDEN_NGINX_ACCESS_LOG'
    | 'WARDEN_TRAFFIC_INGEST_MS'
    | 'WARDEN_AGENT_HEARTBEAT_MS'
    | 'WARDEN_AGENT_SILENCE_MS'
    | 'WARDEN_RECONCILE_INTERVAL_MS'
    | 'WARDEN_ORPHAN_GRACE_MS'
    | 'WARDEN_AGENT_STATS_SAMPLE_MS'
    | 'WARDEN_AGENT_STATS_TIMEOUT_MS'
  >;
  database: Database;
  store: EventStore;
  keys: AgentKeys;
  /** What the rendered nginx vouches for a browser's address with (`workspaceNginxKey`). */
  nginxKey?: string;
  /** This process's worker id: the holder of the cluster's agent lease. */
  owner: string;
  logger: Logger;
  clock?: () => Date;
}

export interface WorkspaceBackground {
  /** True while this process holds the lease and runs the heartbeats and reconciliation. */
  leading(): boolean;
  stop(): Promise<void>;
}

/** The partition-table name of the lease: one process of the cluster watches the agents. */
export const AGENT_LEASE = 'workspaceAgents';

/**
 * The workspace machinery a Warden process runs beside its workers:
 * - the nginx router, in every process given `WARDEN_NGINX_CONFIG` (one per nginx host: the file is
 *   local to it; two on one host write the same text, each through a file of its own);
 * - the heartbeat monitor and the reconciler, in one process of the cluster at a time: the holder of
 *   a lease on the workers' partition table, so two processes never both mark a workspace
 *   unavailable or both remove an orphan; the same holder samples every agent's statistics each
 *   `WARDEN_AGENT_STATS_SAMPLE_MS` and deletes samples older than a day. A holder that dies loses
 *   the lease after three heartbeat intervals; the next one continues from the heartbeats in the
 *   database.
 */
export function startWorkspaceBackground(options: WorkspaceBackgroundOptions): WorkspaceBackground {
  const { config, database, store, keys, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const db = database.db as Kysely<unknown>;
  const router = config.WARDEN_NGINX_CONFIG
    ? new NginxRouter({
        db,
        target: {
          routesFile: config.WARDEN_NGINX_CONFIG,
          command: config.WARDEN_NGINX_COMMAND.split(' '),
          ...(config.WARDEN_NGINX_PID_FILE ? { pidFile: config.WARDEN_NGINX_PID_FILE } : {}),
        },
        // Woken by the routes projections' notices (any process): the interval is only the fallback.
        notices: database,
        listen: config.WARDEN_NGINX_LISTEN,
        domain: config.WARDEN_WORKSPACE_DOMAIN,
        accessUrl: workspaceAccessUrl(config),
        ...(options.nginxKey ? { nginxKey: options.nginxKey } : {}),
        pathRoutes: config.WARDEN_WORKSPACE_PATH_ROUTES,
        intervalMs: config.WARDEN_NGINX_SYNC_MS,
        logger: logger.child({ component: 'nginx-router' }),
        ...(config.WARDEN_NGINX_ACCESS_LOG ? { accessLog: config.WARDEN_NGINX_ACCESS_LOG } : {}),
      })
    : undefined;
  router?.start();
  const traffic = config.WARDEN_NGINX_ACCESS_LOG
    ? startTrafficTailer({
        database,
        owner: options.owner,
        clock,
        intervalMs: config.WARDEN_TRAFFIC_INGEST_MS,
        tailer: new TrafficTailer({
          db,
          file: config.WARDEN_NGINX_ACCESS_LOG,
          logger: logger.child({ component: 'traffic' }),
        }),
        logger,
      })
    : undefined;
  const monitor = new AgentMonitor({
    db,
    store,
    clock,
    keys,
    silentAfterMs: config.WARDEN_AGENT_SILENCE_MS,
    logger: logger.child({ component: 'agent-monitor' }),
  });
  const reconciler = new Reconciler({
    db,
    store,
    clock,
    keys,
    graceMs: config.WARDEN_ORPHAN_GRACE_MS,
    logger: logger.child({ component: 'reconciler' }),
  });
  const lease = new SingletonLease(
    database,
    AGENT_LEASE,
    options.owner,
    Math.max(3 * config.WARDEN_AGENT_HEARTBEAT_MS, 5_000),
  );
  let held = false;
  let lastReconcile = 0;
  let lastSample = Number.NEGATIVE_INFINITY;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const round = async () => {
    held = await lease.hold();
    if (!held) return;
    await monitor.check();
    if (clock().getTime() - lastSample >= config.WARDEN_AGENT_STATS_SAMPLE_MS) {
      lastSample = clock().getTime();
      await sampleAgentStats({ db, keys, clock, timeoutMs: config.WARDEN_AGENT_STATS_TIMEOUT_MS });
    }
    if (clock().getTime() - lastReconcile >= config.WARDEN_RECONCILE_INTERVAL_MS) {
      lastReconcile = clock().getTime();
      await reconciler.sync();
    }
  };
  let running: Promise<void> = Promise.resolve();
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .catch((error: unknown) => logger.error({ err: error }, 'workspace agents round failed'))
        .finally(() => schedule(config.WARDEN_AGENT_HEARTBEAT_MS));
    }, delay);
  };
  schedule(0);
  return {
    leading: () => held,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await router?.stop();
      await traffic?.stop();
      if (held) await lease.release().catch(() => undefined);
      held = false;
    },
  };
}

/**
 * The traffic tailer of one access log, in one process at a time: several Warden processes on the
 * nginx host would otherwise read the same lines. The lease is named after the log's source (host
 * and path); each round reads what nginx appended and deletes minutes past the retention.
 */
function startTrafficTailer(options: {
  database: Database;
  owner: string;
  clock: () => Date;
  intervalMs: number;
  tailer: TrafficTailer;
  logger: Logger;
}) {
  const lease = new SingletonLease(
    options.database,
    `workspaceTraffic:${options.tailer.source}`,
    options.owner,
    Math.max(3 * options.intervalMs, 5_000),
  );
  const traffic = workspaceTraffic(options.database.db as Kysely<unknown>);
  let held = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const round = async () => {
    held = await lease.hold();
    if (!held) return;
    await options.tailer.ingest();
    await traffic.sweep(new Date(options.clock().getTime() - TRAFFIC_RETENTION_MS));
  };
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .catch((error: unknown) => options.logger.error({ err: error }, 'workspace traffic round failed'))
        .finally(() => schedule(options.intervalMs));
    }, delay);
  };
  schedule(0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (held) await lease.release().catch(() => undefined);
    },
  };
}
