import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Pool } from 'pg';
import { lockDataFolder } from './data-folder-lock.ts';
import { PGliteDialect, PGliteSession } from './pglite-dialect.ts';
import { withPreparedStatements } from './prepared-statements.ts';
import type { Tables } from './tables.ts';
import { TIMESTAMPTZ_OID, timestamptzParser } from './timestamps.ts';

/** The read-model and event database: kysely over a real PostgreSQL server or embedded PGlite. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Kysely<Tables>;
  /**
   * The same database for work nobody waits on as it runs: projection pages, process managers' steps,
   * package, tool and image-build jobs. On PGlite its statements and transactions give way to `db`'s waiting ones
   * (see PGliteSession); on PostgreSQL it is `db`, whose pool serves both.
   */
  readonly background: Kysely<Tables>;
  /** The schema every table lives in (`public` unless a test asked for its own). */
  readonly schema: string;
  /**
   * Calls `onNotify` with the payload of every NOTIFY on `channel` (delivered when the notifying
   * transaction commits). Best effort: a listening connection that cannot be opened, or is lost, is
   * tried again every second until it listens (on PostgreSQL), and callers keep a slower poll for
   * what they may miss meanwhile. Rejects only for a channel that is not an identifier. Resolves to a
   * function that stops listening.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** The connection pool now (`/metrics` reads it at scrape time). */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

/**
 * Connections: open (`total`) of at most `max`, `idle` among them, and queries `waiting` for one. On
 * PGlite, the one in-process session: busy or idle, and the queries queued behind its holder.
 */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

export interface PostgresOptions {
  url: string;
  /** Own schema (created if missing), so tests and tenants of a shared server never collide. */
  schema?: string;
  poolSize?: number;
  /**
   * How long an idle connection stays open (pg's default, 10 s, when unset; 0 keeps it). The
   * benchmarks keep theirs, so the backends whose CPU time they read stay the pool's.
   */
  idleTimeoutMs?: number;
  /** Told when a LISTEN connection cannot be opened or is lost (once an outage), and when it listens again. */
  logger?: ListenLogger;
}

/** What `listen` reports of its connection (pino's `warn` and `info` fit). */
export interface ListenLogger {
  warn(details: { err: unknown; channel: string }, message: string): void;
  info(details: { channel: string }, message: string): void;
}

export async function connectPostgres(options: PostgresOptions): Promise<Database> {
  const { default: pg } = await import('pg');
  // int8 (bigint) columns come back as strings; numeric types we use fit into JS numbers or BigInt.
  const schema = options.schema ?? 'public';
  assertIdentifier(schema);
  // Every event read carries a timestamptz: read through the fast path (see timestamps.ts).
  const readTimestamptz = timestamptzParser(pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text'));
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === TIMESTAMPTZ_OID && format !== 'binary'
        ? readTimestamptz
        : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  };
  const pool: Pool = new pg.Pool({
    connectionString: options.url,
    types,
    max: options.poolSize ?? 10,
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMillis: options.idleTimeoutMs }),
    ...(schema === 'public' ? {} : { options: `-c search_path=${schema}` }),
  });
  if (schema !== 'public') await pool.query(`create schema if not exists ${schema}`);
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: withPreparedStatements(pool) }) });
  const listen = async (channel: string, onNotify: (payload: string) => void) => {
    assertIdentifier(channel);
    let stopped = false;
    let client: InstanceType<typeof pg.Client> | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    // Down since the first failure of an outage (reported once), until a connection listens again.
    let down = false;
    const lost = (error: unknown, message: string) => {
      if (stopped) return;
      if (!down) options.logger?.warn({ err: error, channel }, message);
      down = true;
      retry = setTimeout(() => {
        open().catch((again: unknown) => lost(again, message));
      }, 1000);
    };
    // Its own connection, outside the pool: LISTEN holds it for as long as it listens.
    const open = async () => {
      const next = new pg.Client({ connectionString: options.url });
      next.on('notification', (message) => onNotify(message.payload ?? ''));
      next.on('error', (error) => {
        next.end().catch(() => undefined);
        if (client === next) {
          client = undefined;
          lost(error, 'the LISTEN connection was lost; opening it again every second');
        }
      });
      try {
        await next.connect();
        await next.query(`listen ${channel}`);
      } catch (error) {
        next.end().catch(() => undefined);
        throw error;
      }
      if (stopped) {
        await next.end();
        return;
      }
      client = next;
      if (down) options.logger?.info({ channel }, 'listening again');
      down = false;
    };
    // A server that refuses the first connection (a restart, no connection slot free) is tried again
    // as a lost one would be: the caller's poll covers the gap either way.
    await open().catch((error: unknown) =>
      lost(error, 'the LISTEN connection could not be opened; trying again every second'),
    );
    return async () => {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    };
  };
  const max = options.poolSize ?? 10;
  const poolStats = () => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
    max,
  });
  return { kind: 'postgres', db, background: db, schema, listen, poolStats, close: () => db.destroy() };
}

export interface PGliteOptions {
  /** Folder for the data; in memory when absent. */
  dataDir?: string;
  /**
   * A data folder saved by {@link PGliteDatabase.dumpDataDir} to start from, instead of an empty
   * cluster made by initdb (for an in-memory database).
   */
  loadDataDir?: Blob;
}

/** An embedded PGlite database, which can save its whole data folder. */
export interface PGliteDatabase extends Database {
  readonly kind: 'pglite';
  /** The data folder as an uncompressed tarball, for {@link PGliteOptions.loadDataDir}. */
  dumpDataDir(): Promise<Blob>;
  /** The folder it was opened on; undefined in memory. */
  readonly dataDir: string | undefined;
}

/** Whether `database` is embedded PGlite (which can copy its data folder). */
export const isPGlite = (database: Database): database is PGliteDatabase =>
  database.kind === 'pglite' && 'dumpDataDir' in database;

export async function connectPGlite(options: PGliteOptions = {}): Promise<PGliteDatabase> {
  const { PGlite } = await import('@electric-sql/pglite');
  // A folder is one process's at a time (see data-folder-lock.ts); taken before PGlite touches it.
  const lock = options.dataDir === undefined ? null : await lockDataFolder(options.dataDir);
  let pglite: InstanceType<typeof PGlite>;
  try {
    pglite =
      options.dataDir === undefined
        ? new PGlite(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {})
        : new PGlite(options.dataDir);
    await pglite.waitReady;
  } catch (error) {
    await lock?.release();
    throw error;
  }
  const session = new PGliteSession(pglite);
  const dialect = new PGliteDialect(session);
  const db = new Kysely<Tables>({ dialect });
  const background = new Kysely<Tables>({ dialect: new PGliteDialect(session, 'background') });
  return {
    kind: 'pglite',
    dataDir: options.dataDir,
    poolStats: () => dialect.stats(),
    db,
    background,
    schema: 'public',
    listen: async (channel, onNotify) => {
      assertIdentifier(channel);
      // Through the dialect's lock: PGlite is one session, and a LISTEN landing inside someone
      // else's transaction would be undone by its rollback.
      const unlisten = await db.connection().execute(() => pglite.listen(channel, onNotify));
      return () => db.connection().execute(() => unlisten());
    },
    // Through the dialect's lock, so no statement runs while the folder is read.
    dumpDataDir: () => db.connection().execute(() => pglite.dumpDataDir('none')),
    close: async () => {
      try {
        await db.destroy();
        await pglite.close();
      } finally {
        await lock?.release();
      }
    },
  };
}

/** Drops a schema made by `connectPostgres({ schema })` (tests clean up after themselves). */
export async function dropSchema(database: Database): Promise<void> {
  if (database.schema === 'public') return;
  await sql.raw(`drop schema if exists ${database.schema} cascade`).execute(database.db);
}

function assertIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid schema name: ${name}`);
}
