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
 * Who a statement is for. `foreground`: a request, or anything else someone is waiting on.
 * `background`: work nobody waits on as it runs (projection pages, process managers' steps, jobs),
 * whose transactions can hold the session for hundreds of milliseconds.
 */
export type Lane = 'foreground' | 'background';

/**
 * Foreground holders served in a row while background work waits, before one background holder goes:
 * a steady stream of requests slows the background down this much at most, never stops it.
 */
export const FOREGROUND_STREAK = 8;

/**
 * PGlite's one session, handed to one holder at a time (a transaction keeps it from BEGIN to COMMIT,
 * so nobody else's statement lands inside). Waiting holders go in lanes: a foreground one goes before
 * every background one queued, so a request waits for the holder of the moment, not for every
 * projection page and job step queued before it (`bench:pglite`, a list request while the
 * projections catch up on 30,000 issues: p50 236–267 ms and p95 481–596 ms before, against 3 ms
 * idle; with this and the pages' size, see runner.ts, 50–58 and 110–116 ms). When a foreground holder
 * lets go while only background work waits, the session is handed on a turn of the event loop later,
 * so the same request's next statement, issued as the last one's answer comes back, goes first.
 */
export class PGliteSession {
  /** The session's one connection, whoever holds it. */
  readonly connection: DatabaseConnection;
  #busy = false;
  readonly #waiting: Record<Lane, (() => void)[]> = { foreground: [], background: [] };
  #streak = 0;

  constructor(pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }

  /** Resolves when the session is this holder's; it must call `release` once done. */
  acquire(lane: Lane): Promise<void> {
    if (!this.#busy) {
      this.#busy = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting[lane].push(resolve));
  }

  release(lane: Lane): void {
    const { foreground, background } = this.#waiting;
    if (lane === 'foreground' && foreground.length === 0 && background.length > 0) {
      void setImmediate().then(() => this.#handOn());
      return;
    }
    this.#handOn();
  }

  #handOn(): void {
    const { foreground, background } = this.#waiting;
    let next: (() => void) | undefined;
    if (foreground.length > 0 && (background.length === 0 || this.#streak < FOREGROUND_STREAK)) {
      if (background.length > 0) this.#streak++;
      next = foreground.shift();
    } else {
      this.#streak = 0;
      next = background.shift();
    }
    if (next) next();
    else this.#busy = false;
  }

  usage(): { busy: boolean; waiting: number } {
    return { busy: this.#busy, waiting: this.#waiting.foreground.length + this.#waiting.background.length };
  }
}

/**
 * Kysely dialect for embedded PGlite: one per lane over the same {@link PGliteSession}, so a
 * background Kysely's transactions give way to the foreground's waiting statements.
 */
export class PGliteDialect implements Dialect {
  constructor(
    private readonly session: PGliteSession,
    private readonly lane: Lane = 'foreground',
  ) {}
  /** The one session as a pool of one: busy or idle, and how many wait for it (in both lanes). */
  stats(): { total: number; idle: number; waiting: number; max: number } {
    const { busy, waiting } = this.session.usage();
    return { total: 1, idle: busy ? 0 : 1, waiting, max: 1 };
  }
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.session, this.lane);
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

class PGliteDriver implements Driver {
  constructor(
    private readonly session: PGliteSession,
    private readonly lane: Lane,
  ) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    await this.session.acquire(this.lane);
    return this.session.connection;
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
  async releaseConnection(): Promise<void> {
    this.session.release(this.lane);
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
