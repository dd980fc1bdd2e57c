import { setImmediate } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

/**
 * Kysely dialect for embedded PGlite. PGlite is one connection, so the driver hands it out to one
 * holder at a time: a transaction keeps it from BEGIN to COMMIT and nobody else's query lands inside.
 */
export class PGliteDialect implements Dialect {
  private driver: PGliteDriver | undefined;
  constructor(private readonly pglite: PGlite) {}
  /** The one session as a pool of one: busy or idle, and how many wait for it. */
  stats(): { total: number; idle: number; waiting: number; max: number } {
    const { busy, waiting } = this.driver?.usage() ?? { busy: false, waiting: 0 };
    return { total: 1, idle: busy ? 0 : 1, waiting, max: 1 };
  }
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    this.driver = new PGliteDriver(this.pglite);
    return this.driver;
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

class PGliteDriver implements Driver {
  private tail: Promise<void> = Promise.resolve();
  private readonly connection: PGliteConnection;
  private waiting = 0;
  private busy = false;
  constructor(pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }
  usage() {
    return { busy: this.busy, waiting: this.waiting };
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.waiting++;
    await previous;
    this.waiting--;
    this.busy = true;
    this.connection.release = () => {
      this.busy = false;
      release();
    };
    return this.connection;
  }
  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const level = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await connection.executeQuery(CompiledQuery.raw(`begin${level}`));
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PGliteConnection).release();
  }
  async destroy(): Promise<void> {}
}

/**
 * How long PGlite may hold the event loop before the loop gets a turn, in ms. PGlite runs each
 * statement on this thread, and its answers come back as resolved promises, so a chain of statements
 * (a projection's page, the pipeline's jobs, a 3,000-package lockfile's events) never let a timer,
 * a socket or an HTTP request in until it ended: /health waited 7.4 s behind one lockfile, and a
 * request on a kept-alive connection found it closed by the keep-alive timer that fired first.
 */
export const PGLITE_TURN_MS = 10;

class PGliteConnection implements DatabaseConnection {
  release: () => void = () => {};
  private turnAt = performance.now();
  constructor(private readonly pglite: PGlite) {}
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (performance.now() - this.turnAt > PGLITE_TURN_MS) {
      await setImmediate();
      this.turnAt = performance.now();
    }
    const result = await this.pglite.query<R>(compiled.sql, compiled.parameters as unknown[]);
    const affected = result.affectedRows;
    return {
      rows: result.rows,
      ...(affected !== undefined && affected > 0 ? { numAffectedRows: BigInt(affected) } : {}),
    };
  }
  // biome-ignore lint/correctness/useYield: PGlite has no cursors; kysely only calls this for .stream()
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on PGlite');
  }
}
