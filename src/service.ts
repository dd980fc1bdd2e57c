import { resolve as resolvePath } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { connectPGlite, connectPostgres, type Database } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import type { EventStore } from './eventstore/port.ts';
import { postgresEventStore } from './eventstore/postgres/store.ts';
import { transactionBindingFor } from './eventstore/postgres/transactional-store.ts';
import { upcasters } from './eventstore/upcasters.ts';
import { upcastingStore } from './eventstore/upcasting.ts';
import type { ReadinessCheck } from './http/ops/index.ts';
import { loadKeyEncryptionKey, open, seal } from './identity/index.ts';
import { type IdentityStack, identityStack } from './identity-stack.ts';
import { registerGauges } from './metrics/gauges.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { meteredStore } from './metrics/store.ts';
import { type PersonalDataKeys, personalDataKeys, personalDataStore } from './privacy/index.ts';
import {
  type OsvFeedSync,
  type PackageJobs,
  startOsvFeedSync,
  startPackageJobs,
} from './processes/packages/index.ts';
import { processManagers } from './processes/registry.ts';
import { startWorkers, type Worker } from './processes/runtime/index.ts';
import { startToolJobs, type ToolJobs } from './processes/tools/index.ts';
import { type ImageBuildJobs, startImageBuildJobs } from './processes/workspaces/index.ts';
import { ProjectionEngine } from './projections/engine/index.ts';
import { projections } from './projections/registry.ts';
import { processRunner } from './tools/index.ts';
import { agentKeys, workspaceNginxKey } from './workspaces/index.ts';
import { startWorkspaceBackground, type WorkspaceBackground } from './workspaces-stack.ts';

/** The parts every command of the CLI shares: database, event store and projection engine. */
export interface Service {
  config: Config;
  database: Database;
  store: EventStore;
  /** The per-person data keys behind `store` (erasure destroys them). */
  personalData: PersonalDataKeys;
  /**
   * What the rendered workspace nginx vouches for an entering browser's address with: the same in
   * every process, derived from the key-encryption key (`workspaceNginxKey`).
   */
  workspaceNginxKey: string;
  engine: ProjectionEngine;
  readiness: ReadinessCheck[];
  /**
   * A worker process's readiness: the database answers and this process's worker has registered and
   * claimed its first share of partitions (and is not stopping).
   */
  workerReadiness: ReadinessCheck[];
  /** This process's metrics (the store's appends are recorded into it). */
  metrics: Metrics;
  /** The identity stack (signing keys made on first use); built once per process. */
  identity(): Promise<IdentityStack>;
  /** Starts projections and process-manager workers in this process; `close()` stops them at a checkpoint. */
  startBackground(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How often `warden serve` looks for appends it was not told of: the projections' head and the live
 * subscriptions' tail. Every append of this process wakes both at once; the polls find other
 * processes' appends. Embedded PGlite belongs to this one process, so there they are a slow safety
 * net: each poll is a query on the event loop that serves the requests (10 and 20 a second cost an
 * idle PGlite service ~15% of a core, measured, against 1–2% with these).
 */
export function pollingFor(kind: Database['kind']): { projectionPollMs: number; subscriptionPollMs: number } {
  return kind === 'pglite'
    ? { projectionPollMs: 1000, subscriptionPollMs: 1000 }
    : { projectionPollMs: 100, subscriptionPollMs: 50 };
}

/** Opens the database chosen by the configuration (PGlite by default), migrates it, and picks the store. */
export async function openService(config: Config, logger: Logger): Promise<Service> {
  const database = config.DATABASE_URL
    ? await connectPostgres({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, logger })
    : await connectPGlite({ dataDir: config.WARDEN_DATA_DIR });
  const applied = await migrate(database);
  if (applied.length > 0) logger.info({ migrations: applied }, 'migrated the database');
  // Every reader (aggregates, projections, replay, workers) sees events upcast to their current version,
  // with personal fields opened (or erased); every append has them sealed with the person's key.
  const metrics = createMetrics();
  const keyEncryptionKey = await loadKeyEncryptionKey(
    config.WARDEN_KEY_ENCRYPTION_KEY,
    config.WARDEN_DATA_DIR,
  );
  const personalData = personalDataKeys(database.db as Kysely<unknown>, keyEncryptionKey);
  const nginxKey = await workspaceNginxKey(keyEncryptionKey);
  const store = meteredStore(
    upcastingStore(
      personalDataStore(
        await openStore(config, database, logger, pollingFor(database.kind).subscriptionPollMs),
        personalData,
      ),
      upcasters,
    ),
    metrics,
  );
  const polling = pollingFor(database.kind);
  const engine = new ProjectionEngine({
    database,
    store,
    projections,
    pollIntervalMs: polling.projectionPollMs,
    batchSize: config.WARDEN_PROJECTION_PAGE_SIZE,
    logger: logger.child({ component: 'projections' }),
  });
  const readiness: ReadinessCheck[] = [
    {
      name: 'database',
      check: async () => {
        await database.db.selectFrom('warden_checkpoints').select('name').limit(1).execute();
        return { ok: true };
      },
    },
    {
      name: 'event_store',
      check: async () => ({ ok: true, detail: { head: (await store.headPosition()).toString() } }),
    },
    {
      name: 'projections',
      check: async () => {
        const statuses = await engine.status();
        const behind = statuses.filter((p) => p.state === 'failed' || p.lag > config.WARDEN_READY_MAX_LAG);
        return {
          ok: behind.length === 0,
          detail: statuses.map((p) => ({ name: p.name, state: p.state, lag: p.lag })),
        };
      },
    },
  ];
  registerGauges(metrics, { database, engine });
  let worker: Worker | undefined;
  let packageJobs: PackageJobs | undefined;
  let toolJobs: ToolJobs | undefined;
  let imageJobs: ImageBuildJobs | undefined;
  let workspaces: WorkspaceBackground | undefined;
  let osvFeed: OsvFeedSync | undefined;
  let identity: Promise<IdentityStack> | undefined;
  const sealer = {
    seal: (plaintext: string, context: string) => seal(keyEncryptionKey, plaintext, context),
    open: (sealed: string, context: string) => open(keyEncryptionKey, sealed, context),
  };
  const workerReadiness: ReadinessCheck[] = [
    readiness[0]!,
    {
      name: 'partitions',
      check: async () => {
        if (!worker?.running) return { ok: false, detail: worker ? 'stopping' : 'not started' };
        const owned = Object.values(worker.stats().partitions).reduce((n, list) => n + list.length, 0);
        return { ok: true, detail: { worker: worker.id, partitions: owned } };
      },
    },
  ];
  return {
    identity: () => {
      identity ??= identityStack({
        config,
        db: database.db,
        store,
        keyEncryptionKey,
        loginFailures: metrics.loginFailures,
      });
      return identity;
    },
    config,
    database,
    store,
    personalData,
    workspaceNginxKey: nginxKey,
    engine,
    readiness,
    workerReadiness,
    metrics,
    startBackground: async () => {
      if (config.WARDEN_OSV_PATH) {
        const { importOsv } = await import('./packages/index.ts');
        const result = await importOsv({
          db: database.db as never,
          store,
          path: config.WARDEN_OSV_PATH,
          maxEntryBytes: config.WARDEN_OSV_MAX_ENTRY_BYTES,
        });
        const summary = { total: result.total, changed: result.changed, errors: result.errors.length };
        if (result.aborted) {
          logger.error(
            { ...summary, error: result.aborted },
            'OSV advisory data refused or read only in part',
          );
        } else logger.info(summary, 'imported OSV advisory data');
      }
      await engine.start();
      if (processManagers.length > 0) {
        // Appends of handlers and package stages commit with their transaction when the events live here.
        const storeIn = transactionBindingFor(database, store);
        worker = await startWorkers({
          database,
          store,
          storeIn,
          processes: processManagers,
          personalData,
          sealer,
          logger: logger.child({ component: 'workers' }),
          ...(config.WARDEN_WORKER_ID ? { workerId: config.WARDEN_WORKER_ID } : {}),
        });
        packageJobs = startPackageJobs({
          config,
          database,
          store,
          storeIn,
          owner: worker.id,
          logger: logger.child({ component: 'package-jobs' }),
        });
        // A run sees nothing of the data folder (bwrap hides it behind an empty tmpfs).
        toolJobs = startToolJobs({
          database,
          store,
          owner: worker.id,
          logger: logger.child({ component: 'tool-jobs' }),
          processes: processRunner({ hidden: [resolvePath(config.WARDEN_DATA_DIR)] }),
          deniedTargets: config.WARDEN_TOOL_DENIED_TARGETS,
        });
        if (config.WARDEN_OSV_URL) {
          osvFeed = startOsvFeedSync({
            config: { ...config, WARDEN_OSV_URL: config.WARDEN_OSV_URL },
            database,
            store,
            owner: worker.id,
            logger: logger.child({ component: 'osv-feed' }),
            onOutcome: (result) => metrics.osvSyncs.inc({ result }),
          });
        }
        // Image builds run on any worker: each on its agent, cancellable, failed `interrupted` if its worker dies.
        imageJobs = startImageBuildJobs({
          database,
          store,
          keys: agentKeys(database.db as Kysely<unknown>, sealer),
          owner: worker.id,
          logger: logger.child({ component: 'image-jobs' }),
        });
        // nginx routes from the read model; heartbeats and reconciliation in one process of the cluster.
        workspaces = startWorkspaceBackground({
          config,
          database,
          store,
          keys: agentKeys(database.db as Kysely<unknown>, sealer),
          nginxKey,
          owner: worker.id,
          logger: logger.child({ component: 'workspaces' }),
        });
      }
    },
    close: async () => {
      await workspaces?.stop();
      await osvFeed?.stop();
      // Together: a shutdown waits one grace for the queues' running jobs, not one per queue.
      await Promise.all([
        packageJobs?.stop(config.WARDEN_SHUTDOWN_TIMEOUT_MS),
        toolJobs?.stop(config.WARDEN_SHUTDOWN_TIMEOUT_MS),
        imageJobs?.stop(config.WARDEN_SHUTDOWN_TIMEOUT_MS),
      ]);
      await worker?.stop();
      await engine.stop();
      await store.close();
      await database.close();
    },
  };
}

async function openStore(
  config: Config,
  database: Database,
  logger: Logger,
  pollIntervalMs: number,
): Promise<EventStore> {
  if (!config.EVENTSTORE_URL) return postgresEventStore(database, { pollIntervalMs });
  const { eventStoreDbEventStore } = await import('./eventstore/kurrentdb/index.ts');
  logger.info('events are stored in EventStoreDB');
  return eventStoreDbEventStore(config.EVENTSTORE_URL);
}
