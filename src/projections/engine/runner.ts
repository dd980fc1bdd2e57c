import type { Database } from '../../db/database.ts';
import type { EventStore, RecordedEvent } from '../../eventstore/port.ts';
import { ApplyError, applyEvents, commitInOrder, isTransient } from './batch.ts';
import type { HeadWatcher } from './head-watcher.ts';
import type { EngineLogger } from './logger.ts';
import { fitPglitePage } from './pglite-pages.ts';
import type { Projection } from './projection.ts';
import {
  advanceCheckpoint,
  type CheckpointMove,
  engineTables,
  markFailed,
  type ProjectionErrorInfo,
  type ProjectionRow,
  readRows,
  setState,
} from './rows.ts';
import { scoped } from './schemas.ts';
import { anySignal, sleep } from './timing.ts';

export type RunnerState = 'live' | 'catching_up' | 'failed' | 'stopped';

export interface RunnerOptions {
  database: Database;
  store: EventStore;
  projection: Projection;
  head: HeadWatcher;
  logger: EngineLogger;
  batchSize: number;
  pollIntervalMs: number;
  /** Called after each commit and state change, so read-your-writes waiters look again. */
  onChange(): void;
}

/** The stored checkpoint is not the one this runner holds: another engine moved it (or a rebuild). */
class CheckpointMovedError extends Error {
  constructor(readonly row: ProjectionRow | undefined) {
    super('the checkpoint moved under this runner');
  }
}

/**
 * The live loop of one projection: reads its event types after the checkpoint a page at a time and
 * commits each page, read-model writes and checkpoint together, in one transaction. The row lock
 * taken first makes a second engine on the same database skip a page already committed instead of
 * applying it twice. Caught up, it sleeps until the head moves.
 */
/** Longest a checkpoint trails the runner while only events of other types pass. */
const CHECKPOINT_INTERVAL_MS = 1000;

export class ProjectionRunner {
  /** How far this runner has read: waits and status use it. */
  position = 0n;
  state: RunnerState = 'stopped';
  /** The checkpoint as last committed (it trails `position` while only other types' events pass). */
  #stored = 0n;
  #storedAt = 0;
  lastError: ProjectionErrorInfo | null = null;
  #loop: Promise<void> | null = null;
  #stop: AbortController | null = null;
  #wake: AbortController | null = null;
  #pause: { reached: Deferred; resumed: Deferred } | null = null;
  #ahead: { after: bigint; seenHead: bigint; limit: number; page: Promise<RecordedEvent[]> } | null = null;
  /** The next page's size: the batch size, or on PGlite what fits in PGLITE_PAGE_MS. */
  #limit: number;

  constructor(private readonly options: RunnerOptions) {
    this.#limit = options.batchSize;
  }

  get running(): boolean {
    return this.#loop !== null;
  }

  /** Starts the loop; `state` is `live` when the checkpoint is known to be at the head (after a swap). */
  start(position: bigint, lastError: ProjectionErrorInfo | null, state: RunnerState = 'catching_up'): void {
    if (this.#loop) return;
    this.position = position;
    this.#stored = position;
    this.lastError = lastError;
    this.state = state;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = this.#run(stop.signal).finally(() => {
      this.#loop = null;
      this.#pause?.reached.resolve();
    });
    this.options.onChange();
  }

  /** Stops after the page in hand is committed (or dropped, if it was only read). */
  async stop(): Promise<void> {
    const loop = this.#loop;
    if (!loop) return;
    this.#stop?.abort();
    this.#pause?.resumed.resolve();
    await loop;
    if (this.state !== 'failed') {
      this.state = 'stopped';
      const { database, projection, logger } = this.options;
      await setState(engineTables(database.background, database.schema), projection.name, 'stopped').catch(
        (error: unknown) =>
          logger.warn({ err: error, projection: projection.name }, 'could not record the stop'),
      );
    }
  }

  /** Holds the loop at a checkpoint (between transactions); resolves once it is held or not running. */
  async pause(): Promise<void> {
    if (!this.#loop) return;
    this.#pause ??= { reached: deferred(), resumed: deferred() };
    this.#wake?.abort();
    await this.#pause.reached.promise;
  }

  /** Lets a paused loop go on, from `position` when a rebuild has just moved the checkpoint. */
  resume(position?: bigint): void {
    if (position !== undefined) {
      this.position = position;
      this.#stored = position;
      this.lastError = null;
    }
    const pause = this.#pause;
    this.#pause = null;
    pause?.resumed.resolve();
  }

  async #run(signal: AbortSignal): Promise<void> {
    try {
      await this.#loopPages(signal);
    } finally {
      // A page read ahead for a position never reached: let its query end before the pool does.
      await this.#ahead?.page.catch(() => {});
      this.#ahead = null;
    }
  }

  async #loopPages(signal: AbortSignal): Promise<void> {
    const { projection, head, logger } = this.options;
    let failures = 0;
    const backoff = () =>
      sleep(Math.min(this.options.pollIntervalMs * 2 ** Math.min(failures, 6), 5000), signal);
    while (!signal.aborted) {
      if (this.#pause) {
        this.#pause.reached.resolve();
        await this.#pause.resumed.promise;
        continue;
      }
      // The head is read before the page, so the page's snapshot sees everything up to it: when the
      // page comes back short, no event of ours lies at or below this head beyond the page.
      let seenHead: bigint;
      let page: RecordedEvent[];
      let limit: number;
      try {
        ({ seenHead, page, limit } = await this.#read());
      } catch (error) {
        failures++;
        logger.warn({ err: error, projection: projection.name }, 'projection cannot read events; retrying');
        await backoff();
        continue;
      }
      if (signal.aborted || this.#pause) continue;
      const full = page.length === limit;
      const last = page.at(-1)?.position ?? this.position;
      // Caught up, the checkpoint also passes events of other types, so lag and waits see it current.
      const next = full || last >= seenHead ? last : seenHead;
      const state = full ? 'catching_up' : 'live';
      if (next > this.position && page.length === 0 && state === this.state && !this.#checkpointDue()) {
        // Only other types' events passed: move on in memory and write the checkpoint now and then,
        // not once per event of the whole system in every projection.
        this.position = next;
        this.options.onChange();
      } else if (next > this.position || state !== this.state) {
        // Catching up, the next page is read while this one commits (it is used only if this one
        // commits whole, from exactly where it ends).
        if (full) this.#readAhead(last);
        try {
          await commitInOrder(page, next, (events, to) => this.#commit(events, to, state));
          failures = 0;
        } catch (error) {
          if (error instanceof CheckpointMovedError) {
            if (this.#adopt(error.row)) continue;
            break;
          }
          if (error instanceof ApplyError && !isTransient(error.cause)) {
            await this.#fail(error);
            break;
          }
          failures++;
          logger.warn({ err: error, projection: projection.name }, 'projection batch failed; retrying');
          await backoff();
          continue;
        }
      }
      if (full) continue;
      const wake = new AbortController();
      this.#wake = wake;
      if (this.#pause) continue;
      const linked = anySignal(signal, wake.signal);
      await head.waitBeyond(this.position, linked.signal);
      linked.dispose();
      this.#wake = null;
    }
  }

  /** The page after `position`: the one read ahead when it starts there, else a fresh read. */
  async #read(): Promise<{ seenHead: bigint; page: RecordedEvent[]; limit: number }> {
    const ahead = this.#ahead;
    this.#ahead = null;
    if (ahead) {
      if (ahead.after === this.position)
        return { seenHead: ahead.seenHead, page: await ahead.page, limit: ahead.limit };
      await ahead.page.catch(() => {});
    }
    const { head, projection } = this.options;
    const seenHead = head.value;
    const limit = this.#limit;
    // None of the new events is of this projection's types: nothing to read.
    const types = head.typesBetween(this.position, seenHead);
    if (types && !projection.types.some((type) => types.has(type))) return { seenHead, page: [], limit };
    return { seenHead, page: await this.#readPage(this.position, limit), limit };
  }

  #readPage(after: bigint, limit: number): Promise<RecordedEvent[]> {
    const { store, projection } = this.options;
    return store.readAll({ after, limit, types: projection.types });
  }

  /**
   * Starts reading the page after `after` on another connection. PGlite has one session, which the
   * commit holds: there the read would only queue behind it.
   */
  #readAhead(after: bigint): void {
    if (this.options.database.kind !== 'postgres') return;
    const seenHead = this.options.head.value;
    const limit = this.#limit;
    const page = this.#readPage(after, limit);
    // Awaited by the next turn (or the loop's end); until then a failure must not count as unhandled.
    page.catch(() => {});
    this.#ahead = { after, seenHead, limit, page };
  }

  async #commit(events: readonly RecordedEvent[], next: bigint, state: RunnerState): Promise<void> {
    const { database, projection } = this.options;
    const error = this.lastError;
    const clearError = error !== null && (error.position === null || next >= error.position);
    const rows = engineTables(database.background, database.schema);
    const move = { from: this.#stored, to: next, version: projection.version, state, clearError };
    // The checkpoint moves only from where this runner left it, under this version (a concurrent
    // mover holding the row makes the move wait, then find it moved).
    const moved =
      events.length === 0
        ? // Only the checkpoint moves (past other types' events, or a state change): one statement
          // (every projection does this once a second while other types' events pass).
          await advanceCheckpoint(rows, projection.name, move)
        : await this.#applyPage(events, move);
    if (!moved) {
      throw new CheckpointMovedError((await readRows(rows, [projection.name])).get(projection.name));
    }
    this.position = next;
    this.#stored = next;
    this.#storedAt = Date.now();
    this.state = state;
    if (clearError) this.lastError = null;
    this.options.onChange();
  }

  /**
   * Applies a page and moves the checkpoint in one transaction, which the move opens: it holds the
   * row until the commit, so a second engine cannot apply the page too. The move has no parameters,
   * so on PostgreSQL it goes with the transaction's `begin` in one round trip. False (nothing
   * applied) when the checkpoint moved.
   */
  #applyPage(events: readonly RecordedEvent[], move: CheckpointMove): Promise<boolean> {
    const { database, projection } = this.options;
    return database.background.transaction().execute(async (trx) => {
      const started = performance.now();
      const rows = engineTables(trx, database.schema);
      if (!(await advanceCheckpoint(rows, projection.name, move, { inline: true }))) return false;
      await applyEvents(projection, events, scoped(trx, database.schema));
      if (database.kind === 'pglite') this.#fitPage(events.length, performance.now() - started);
      return true;
    });
  }

  /** The next page on PGlite: as many events as the last page's time per event fits in PGLITE_PAGE_MS. */
  #fitPage(events: number, tookMs: number): void {
    this.#limit = fitPglitePage(this.options.batchSize, events, tookMs);
  }

  #checkpointDue(): boolean {
    return Date.now() - this.#storedAt >= CHECKPOINT_INTERVAL_MS;
  }

  /** Takes over the stored checkpoint; false when the live tables now belong to another version. */
  #adopt(row: ProjectionRow | undefined): boolean {
    const { projection, logger } = this.options;
    if (row && row.version === projection.version) {
      this.position = row.position;
      this.#stored = row.position;
      return true;
    }
    logger.warn(
      { projection: projection.name, version: projection.version, stored: row?.version ?? null },
      'the live tables were rebuilt by another version; this engine stops running the projection',
    );
    this.state = 'stopped';
    this.options.onChange();
    return false;
  }

  async #fail(error: ApplyError): Promise<void> {
    const { database, projection, logger } = this.options;
    const info: ProjectionErrorInfo = {
      message: error.message,
      eventId: error.event?.id ?? null,
      position: error.event?.position ?? null,
      at: new Date(),
    };
    this.state = 'failed';
    this.lastError = info;
    logger.error(
      {
        projection: projection.name,
        eventId: info.eventId,
        position: info.position?.toString(),
        err: error.cause,
      },
      'projection failed: it stops at this event, the others go on',
    );
    try {
      await markFailed(engineTables(database.background, database.schema), projection.name, info);
    } catch (markError) {
      logger.error({ err: markError, projection: projection.name }, 'could not record the failure');
    }
    this.options.onChange();
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
