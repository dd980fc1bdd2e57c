import { parseArgs } from 'node:util';
import { type Command, command, HELP_OPTION, noArguments, parseWith, run, version } from './cli/command.ts';
import type { HttpAppFactory } from './cli/serve.ts';
import type { Logger } from './logger.ts';
import type { Service } from './service.ts';

// Nothing of the service is imported above: `--help`, `--version` and a usage error answer without
// loading it (4 s through tsx on a busy machine, against 0.7 s for an empty module); a command
// loads its own module once it is named, and the service once its arguments parse.

const USAGE = `Usage: warden [--help | --version] <command> [options]

Commands:
  serve                       HTTP API with projections and workers in-process (the default)
  worker                      projections and process managers only, no HTTP
  migrate                     apply database migrations and exit
  projections list [--json]   each projection's state, position, lag and last error
  projections rebuild <name>  rebuild a read model from the events (no downtime), with progress
  keys list [--json]          token signing keys: kid, state (pending/active/retired), dates
  keys rotate [--force]       pending key → active, active → retired, new pending key published
  keys list|rotate --tenant <slug> [--alg EdDSA|RS256|ES256] [--json]
                              a tenant issuer's OAuth keys; rotate: a new key signs, the old one stays published
  osv import <path>           import OSV advisory data (folder or .zip); re-checks packages already let in
  replay <streamId> [--at <revision|time>] [--diff] [--json]
                              an entity's state then, folded from its events; --diff: what each event changed
  restore <backup.tar.gz>     restore a backup (GET /v1/admin/backup) into an empty WARDEN_DATA_DIR (PGlite)
  agent                       the workspace agent: drives this host's Docker Engine for Warden (WARDEN_AGENT_*)
  help [<command>]            this text, or a command's (as does <command> --help)

Options go in any order, as --name value or --name=value. Configuration comes from environment
variables: see README.md.`;

const AGENT_USAGE =
  'Usage: warden agent    the workspace agent on this host (configured by WARDEN_AGENT_*: see README.md)';

/** Each command, loaded when named: its usage and parser live in its module. */
const commands = new Map<string, () => Promise<Command>>([
  [
    'serve',
    async () =>
      command(
        'Usage: warden serve    the HTTP API, with the workers in-process unless WARDEN_WORKERS=false',
        false,
        noArguments,
        async (_, service, logger) =>
          (await import('./cli/serve.ts')).serve(service, logger, await httpApp(service, logger)),
      ),
  ],
  [
    'worker',
    async () =>
      command(
        'Usage: warden worker   projections and process managers; /health and /ready only on WARDEN_WORKER_HEALTH_PORT',
        false,
        noArguments,
        async (_, service, logger) =>
          (await import('./cli/serve.ts')).runWorker(
            service,
            logger,
            (await import('./http/ops/index.ts')).workerHealthApp(service.workerReadiness).fetch,
          ),
      ),
  ],
  [
    'migrate',
    async () =>
      command('Usage: warden migrate  apply database migrations and exit', true, noArguments, async () => {
        console.log('database is up to date');
        return 0;
      }),
  ],
  [
    'projections',
    async () => {
      const { PROJECTIONS_USAGE, parseProjectionsArgs, runProjections } = await import(
        './cli/projections.ts'
      );
      return command(PROJECTIONS_USAGE, true, parseProjectionsArgs, (args, service) =>
        runProjections(args, { engine: service.engine }),
      );
    },
  ],
  [
    'keys',
    async () => {
      const { KEYS_USAGE, keysDepsOf, parseKeysArgs, runKeys } = await import('./cli/keys.ts');
      return command(KEYS_USAGE, true, parseKeysArgs, async (args, service) =>
        runKeys(args, await keysDepsOf(service)),
      );
    },
  ],
  [
    'osv',
    async () => {
      const { OSV_USAGE, parseOsvArgs, runOsv } = await import('./cli/osv.ts');
      return command(OSV_USAGE, true, parseOsvArgs, (args, service) =>
        runOsv(args, {
          db: service.database.db as never,
          store: service.store,
          maxEntryBytes: service.config.WARDEN_OSV_MAX_ENTRY_BYTES,
        }),
      );
    },
  ],
  [
    'replay',
    async () => {
      const { parseReplayArgs, REPLAY_USAGE, runReplay } = await import('./cli/replay.ts');
      return command(REPLAY_USAGE, true, parseReplayArgs, (args, service) =>
        runReplay(args, { store: service.store, db: service.database.db }),
      );
    },
  ],
]);

/** The HTTP app for `serve`, built here: only main imports `http/`. */
async function httpApp(service: Service, logger: Logger): Promise<HttpAppFactory> {
  const [
    { createApp, oauthServerFor },
    { notifierFromConfig },
    { createLogger },
    { viewSource },
    tenancy,
    tools,
    { takeBackup },
    { WARDEN_VERSION },
    { isPGlite },
  ] = await Promise.all([
    import('./http/app.ts'),
    import('./identity/notifier/index.ts'),
    import('./logger.ts'),
    import('./packages/index.ts'),
    import('./tenancy/index.ts'),
    import('./tools/index.ts'),
    import('./db/backup.ts'),
    import('./http/ops/index.ts'),
    import('./db/database.ts'),
  ]);
  const { config, store, database } = service;
  const db = database.db;
  // PGlite only: a PostgreSQL server is backed up with its own tools.
  const backup = isPGlite(database)
    ? () =>
        takeBackup(database, {
          wardenVersion: WARDEN_VERSION,
          generatedKey: !config.WARDEN_KEY_ENCRYPTION_KEY,
        })
    : undefined;
  return (identity) => {
    const oauth = oauthServerFor({ config, identity, store, db, logger });
    const { fetch } = createApp({
      config,
      identity,
      eventsInDatabase: store.name !== 'eventstoredb',
      store,
      personalData: service.personalData,
      workspaceNginxKey: service.workspaceNginxKey,
      db,
      projections: service.engine,
      engine: service.engine,
      backup,
      readiness: service.readiness,
      metrics: service.metrics,
      logger,
      oauth,
      npmRegistry: config.WARDEN_TARGET_REGISTRY
        ? viewSource({
            url: config.WARDEN_TARGET_REGISTRY,
            timeoutMs: config.WARDEN_REGISTRY_TIMEOUT_MS,
            ...(config.WARDEN_TARGET_REGISTRY_TOKEN ? { token: config.WARDEN_TARGET_REGISTRY_TOKEN } : {}),
          })
        : undefined,
      domainOwnership: tenancy.dnsOwnershipResolver(),
      // The log-only notifier (no WARDEN_SMTP_URL) writes its one line to stderr, apart from the JSON log.
      notifier: notifierFromConfig(config, createLogger('info', process.stderr)),
      toolStream: tools.streamHub({
        db: service.database.db as never,
        listen: service.database.listen,
        schema: service.database.schema,
      }),
    });
    return { fetch, oauth };
  };
}

/** `warden [--help | --version] [help [<command>] | <command> [options]]`: parse first, then open. */
async function main(argv: readonly string[]): Promise<number> {
  const start = argv.findIndex((arg) => !arg.startsWith('-'));
  const [name = 'serve', ...rest] = start === -1 ? [] : argv.slice(start);
  const top = parseWith(() => {
    const { values } = parseArgs({
      args: argv.slice(0, start === -1 ? argv.length : start),
      options: { ...HELP_OPTION, version: { type: 'boolean' } },
    });
    return run(values);
  });
  if (top.kind !== 'run') return usageError(top.kind === 'invalid' ? top.message : '', USAGE);
  if (top.args.version) {
    console.log(await version());
    return 0;
  }
  if (top.args.help || name === 'help') {
    const about = name === 'help' && rest[0] !== undefined ? await commands.get(rest[0])?.() : undefined;
    if (name === 'help' && rest[0] !== undefined && !about)
      return usageError(`unknown command "${rest[0]}"`, USAGE);
    console.log(about?.usage ?? USAGE);
    return 0;
  }
  if (name === 'agent') {
    // The agent runs on a workspace host: no Warden configuration or database, only WARDEN_AGENT_*.
    const parsed = noArguments(rest);
    if (parsed.kind === 'help') {
      console.log(AGENT_USAGE);
      return 0;
    }
    if (parsed.kind === 'invalid') return usageError(parsed.message, AGENT_USAGE);
    return (await import('./workspaces/index.ts')).agentCommand([], process.env);
  }
  if (name === 'restore') {
    // Writes a folder nothing has open: no service is opened (the restore opens what it wrote).
    const { parseRestoreArgs, RESTORE_USAGE, runRestore } = await import('./cli/restore.ts');
    const parsed = parseRestoreArgs(rest);
    if (parsed.kind === 'help') {
      console.log(RESTORE_USAGE);
      return 0;
    }
    if (parsed.kind === 'invalid') return usageError(parsed.message, RESTORE_USAGE);
    const { ConfigError, loadConfig } = await import('./config.ts');
    try {
      const config = loadConfig(process.env);
      return await runRestore(parsed.args, {
        dataDir: config.WARDEN_DATA_DIR,
        keyConfigured: config.WARDEN_KEY_ENCRYPTION_KEY !== undefined,
        onServer: config.DATABASE_URL !== undefined,
        out: (line) => console.log(line),
        err: (line) => console.error(line),
        progress: process.stderr,
      });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      console.error(error.message);
      return 2;
    }
  }
  const load = commands.get(name);
  if (!load) return usageError(`unknown command "${name}"`, USAGE);
  const chosen = await load();
  const parsed = chosen.parse(rest);
  if (parsed.kind === 'help') {
    console.log(chosen.usage);
    return 0;
  }
  if (parsed.kind === 'invalid') return usageError(parsed.message, chosen.usage);

  const [
    { ConfigError, loadConfig },
    { createLogger, logFormatFor },
    { openService },
    { DataFolderInUseError },
  ] = await Promise.all([
    import('./config.ts'),
    import('./logger.ts'),
    import('./service.ts'),
    import('./db/data-folder-lock.ts'),
  ]);
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const terminal = process.stdout.isTTY === true;
  const logger = createLogger(
    chosen.oneShot && config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL,
    undefined,
    logFormatFor(config.LOG_FORMAT, terminal),
    terminal,
  );
  let service: Awaited<ReturnType<typeof openService>>;
  try {
    service = await openService(config, logger);
  } catch (error) {
    // Another process has the PGlite folder: its message says which and what to do.
    if (error instanceof DataFolderInUseError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  if (!chosen.oneShot) return parsed.args(service, logger);
  try {
    return await parsed.args(service, logger);
  } finally {
    await service.close();
  }
}

function usageError(message: string, usage: string): number {
  console.error(message ? `${message}\n\n${usage}` : usage);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
