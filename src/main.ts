import { bootstrap } from './bootstrap.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { createApp, oauthServerFor } from './http/app.ts';
import { createLogger, type Logger } from './logger.ts';
import { listen, onStopSignal, runtimeName } from './runtime/index.ts';
import { openService, type Service } from './service.ts';
import { sweepExpired } from './sweep.ts';
import { streamHub } from './tools/index.ts';

const USAGE = `Usage: warden <command>

Commands:
  serve                       HTTP API with projections and workers in-process (the default)
  worker                      projections and process managers only, no HTTP
  migrate                     apply database migrations and exit
  projections list            each projection's state, position, lag and last error
  projections rebuild <name>  rebuild a read model from the events (no downtime), with progress
  keys list                   token signing keys: kid, state (pending/active/retired), dates
  keys rotate [--force]       pending key → active, active → retired, new pending key published
  keys list|rotate --tenant <slug> [--alg EdDSA|RS256|ES256]
                              a tenant issuer's OAuth keys; rotate: a new key signs, the old one stays published
  osv import <path>           import OSV advisory data (folder or .zip); re-checks packages already let in
  replay <streamId> [--at <revision|time>] [--diff]
                              an entity's state then, folded from its events; --diff: what each event changed
  help                        this text

Configuration comes from environment variables: see README.md.`;

const SWEEP_INTERVAL_MS = 10 * 60_000;

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (!['serve', 'worker', 'migrate', 'projections', 'keys', 'replay', 'osv'].includes(command)) {
    console.error(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const quiet =
    command === 'projections' ||
    command === 'migrate' ||
    command === 'keys' ||
    command === 'replay' ||
    command === 'osv';
  const logger = createLogger(quiet && config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const service = await openService(config, logger);
  switch (command) {
    case 'migrate':
      await service.close();
      console.log('database is up to date');
      return 0;
    case 'projections': {
      const { projectionsCommand } = await import('./cli/projections.ts');
      try {
        return await projectionsCommand(rest, { engine: service.engine });
      } finally {
        await service.close();
      }
    }
    case 'keys': {
      const { keysCommand } = await import('./cli/keys.ts');
      try {
        const identity = await service.identity();
        const { tenantIdForSlug } = await import('./commands/tenancy/index.ts');
        return await keysCommand(rest, {
          keys: identity.keys,
          tenantKeys: {
            keys: identity.oauthKeys,
            // Until every token it signed has expired and every cached JWKS has been read again.
            publishForSeconds:
              Math.max(
                config.WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS,
                config.WARDEN_OAUTH_ID_TOKEN_TTL_SECONDS,
              ) +
              config.WARDEN_JWKS_CACHE_SECONDS +
              60,
            tenantId: tenantIdForSlug,
          },
        });
      } finally {
        await service.close();
      }
    }
    case 'osv': {
      const { osvCommand } = await import('./cli/osv.ts');
      try {
        return await osvCommand(rest, { db: service.database.db as never, store: service.store });
      } finally {
        await service.close();
      }
    }
    case 'replay': {
      const { replayCommand } = await import('./cli/replay.ts');
      try {
        return await replayCommand(rest, { store: service.store, db: service.database.db });
      } finally {
        await service.close();
      }
    }
    case 'worker':
      return runWorker(service, logger);
    default:
      return serve(service, logger);
  }
}

async function runWorker(service: Service, logger: Logger): Promise<number> {
  await service.startBackground();
  logger.info({ runtime: runtimeName }, 'worker started');
  await new Promise<void>((resolve) => onStopSignal(() => resolve()));
  logger.info('stopping at a checkpoint');
  await service.close();
  return 0;
}

async function serve(service: Service, logger: Logger): Promise<number> {
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
  const oauth = oauthServerFor({ config, identity, store: service.store, db: service.database.db, logger });
  const sweeper = setInterval(() => {
    sweepExpired(identity, oauth, service.metrics).then(
      (swept) => logger.debug({ swept }, 'swept expired login, token and OAuth records'),
      (error: unknown) => logger.warn({ err: error }, 'sweeping expired records failed'),
    );
  }, SWEEP_INTERVAL_MS);
  sweeper.unref?.();
  const app = createApp({
    config,
    identity,
    eventsInDatabase: service.store.name !== 'eventstoredb',
    store: service.store,
    personalData: service.personalData,
    db: service.database.db,
    projections: service.engine,
    engine: service.engine,
    readiness: service.readiness,
    metrics: service.metrics,
    logger,
    oauth,
    toolStream: streamHub({
      db: service.database.db as never,
      listen: service.database.listen,
      schema: service.database.schema,
    }),
  });
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
  const signal = await new Promise<string>((resolve) => onStopSignal(resolve));
  logger.info({ signal }, 'shutting down: finishing in-flight requests');
  clearInterval(sweeper);
  await server.close(config.WARDEN_SHUTDOWN_TIMEOUT_MS);
  await service.close();
  logger.info('stopped');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
