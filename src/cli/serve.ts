import type { Kysely } from 'kysely';
import { bootstrap } from '../bootstrap.ts';
import { startTableUpkeep, type TableUpkeep } from '../db/upkeep.ts';
import type { IdentityStack } from '../identity-stack.ts';
import type { Logger } from '../logger.ts';
import type { OAuthServer } from '../oauth/index.ts';
import { viewAs } from '../processes/runtime/index.ts';
import { boundHeapGrowth } from '../runtime/heap.ts';
import { type FetchHandler, listen, runtimeName, stopSignal } from '../runtime/index.ts';
import type { Service } from '../service.ts';
import { sweepExpired } from '../sweep.ts';
import { outputRetention, type ToolOutputTables } from '../tools/index.ts';
import { agentKeys, sweepWorkspaceAccess, uploadExpiry } from '../workspaces/index.ts';

const SWEEP_INTERVAL_MS = 10 * 60_000;

/**
 * Vacuum and analyze on embedded PGlite, which runs no autovacuum (a PostgreSQL server's does this
 * itself): each pass logged with what it did to which table and for how long, and counted.
 */
function pgliteUpkeep(service: Service, logger: Logger): TableUpkeep | undefined {
  const intervalMs = service.config.WARDEN_PGLITE_UPKEEP_MS;
  if (service.database.kind !== 'pglite' || intervalMs === 0) return undefined;
  return startTableUpkeep({
    database: service.database,
    intervalMs,
    onDone: (done) => {
      for (const { action } of done) service.metrics.tableUpkeep.inc({ action });
      logger.info({ tables: done }, 'table upkeep: vacuumed and analyzed what autovacuum would have');
    },
    onError: (error) => logger.warn({ err: error }, 'table upkeep failed'),
  });
}

/** `warden worker`: projections and process managers until a stop signal, then a clean stop at a checkpoint. */
export async function runWorker(service: Service, logger: Logger, health?: FetchHandler): Promise<number> {
  // Taken first: a signal while the workers start stops them cleanly once started.
  const stopped = stopSignal();
  const port = service.config.WARDEN_WORKER_HEALTH_PORT;
  // Listening before the workers start: liveness answers at once, readiness once partitions are claimed.
  const server =
    health && port !== undefined ? await listen(health, { port, hostname: service.config.HOST }) : undefined;
  if (server) logger.info({ url: `http://${service.config.HOST}:${server.port}` }, 'worker health listening');
  const heapGrowthPercent = service.config.WARDEN_WORKER_HEAP_GROWTH_PERCENT;
  boundHeapGrowth(heapGrowthPercent);
  await service.startBackground();
  logger.info({ runtime: runtimeName, heapGrowthPercent }, 'worker started');
  await stopped;
  logger.info('stopping at a checkpoint');
  await server?.close(1000);
  await service.close();
  return 0;
}

/**
 * The HTTP app (and the OAuth server it mounts) for a signed-in identity stack. main.ts builds it:
 * only main imports `http/`.
 */
export type HttpAppFactory = (identity: IdentityStack) => { fetch: FetchHandler; oauth: OAuthServer };

/** `warden serve`: the HTTP API (with the workers unless WARDEN_WORKERS is off) until a stop signal. */
export async function serve(service: Service, logger: Logger, appFor: HttpAppFactory): Promise<number> {
  // Taken first: a signal while it starts (or the instant it says it listens) stops it cleanly.
  const stopped = stopSignal();
  const { config } = service;
  if (config.WARDEN_WORKERS) await service.startBackground();
  else await service.engine.prepare();
  const identity = await service.identity();
  await bootstrap(service.store, logger, {
    email: config.WARDEN_ADMIN_EMAIL,
    password: config.WARDEN_ADMIN_PASSWORD,
    hasher: identity.hasher,
    userIds: identity.userIds,
    reveal: (text) => process.stderr.write(text),
  });
  const app = appFor(identity);
  const { oauth } = app;
  const uploads = uploadExpiry({
    store: service.store,
    keys: agentKeys(service.database.db as Kysely<unknown>, identity.sealer),
    clock: () => new Date(),
    expiryMs: config.WARDEN_UPLOAD_EXPIRY_MS,
  });
  const outputs = outputRetention({
    db: viewAs<ToolOutputTables>(service.database.db),
    days: config.WARDEN_OUTPUT_RETENTION_DAYS,
  });
  const sweeper = setInterval(() => {
    sweepExpired(
      identity,
      oauth,
      service.metrics,
      uploads,
      () => sweepWorkspaceAccess(service.database.db as Kysely<unknown>),
      outputs,
    ).then(
      (swept) => logger.debug({ swept }, 'swept expired login, token and OAuth records'),
      (error: unknown) => logger.warn({ err: error }, 'sweeping expired records failed'),
    );
  }, SWEEP_INTERVAL_MS);
  sweeper.unref?.();
  const upkeep = pgliteUpkeep(service, logger);
  const server = await listen(app.fetch, { port: config.PORT, hostname: config.HOST });
  logger.info(
    {
      url: `http://${config.HOST}:${server.port}`,
      runtime: runtimeName,
      database: service.database.kind,
      store: service.store.name,
    },
    'warden is listening',
  );
  const signal = await stopped;
  logger.info({ signal }, 'shutting down: finishing in-flight requests');
  clearInterval(sweeper);
  await server.close(config.WARDEN_SHUTDOWN_TIMEOUT_MS);
  await upkeep?.stop();
  await service.close();
  logger.info('stopped');
  return 0;
}
