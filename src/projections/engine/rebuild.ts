import { type QueryExecutorProvider, sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import type { EventStore, RecordedEvent } from '../../eventstore/port.ts';
import { ApplyError, applyEvents, commitInOrder } from './batch.ts';
import { RebuildFailedError, RebuildInProgressError } from './errors.ts';
import type { EngineLogger } from './logger.ts';
import { fitPglitePage, MIN_PGLITE_PAGE } from './pglite-pages.ts';
import type { Projection } from './projection.ts';
import {
  claimRebuild,
  completeRebuild,
  engineTables,
  heartbeatRebuild,
  lockRow,
  readRows,
  releaseRebuild,
} from './rows.ts';
import {
  createSentinel,
  dropSchemaIfExists,
  dropTables,
  moveTables,
  recreateSchema,
  SHADOW_SENTINEL,
  scoped,
  sentinelIntact,
  shadowSchemaName,
  useSchemas,
} from './schemas.ts';

export interface RebuildProgress {
  /** Events of the log replayed so far (all types: the log is read once, in order). */
  done: number;
  /** Events in the log; grows when events arrive during the rebuild. */
  total: number;
}

export interface RebuildResult {
  /** Events of the log read. */
  events: number;
  /** Of those, events of the projection's types (folded into the tables). */
  applied: number;
  /** The checkpoint the swapped-in tables start from. */
  position: bigint;
  seconds: number;
  eventsPerSecond: number;
}

export interface RebuildContext {
  database: Database;
  store: EventStore;
  projection: Projection;
  logger: EngineLogger;
  /** Events per read and per shadow transaction (the store reads at most 10,000 at once). */
  batchSize: number;
  /** Lease holder id: unique per rebuild. */
  owner: string;
  signal: AbortSignal;
  /** Called between transactions; awaited, so a caller may hold the rebuild there. */
  onProgress(progress: RebuildProgress): void | Promise<void>;
  /** Holds the live loop at a checkpoint before the swap; it keeps serving until then. */
  pauseLive(): Promise<void>;
}

/** How often the swap re-catches-up when another process keeps moving the live checkpoint. */
const SWAP_ATTEMPTS = 10;

/**
 * Shadow transactions in flight at once on PostgreSQL during the bulk replay, for a projection whose
 * pages are independent (`independentPages`: they commit in any order) or split by entity
 * (`entityOf`: each writer a lane of entities, in order); the server then inserts and parses on one
 * backend per page while this process reads and encodes the next ones. Any other projection, and
 * PGlite (one connection), writes one page at a time while the next is read.
 */
const SHADOW_WRITERS = 2;

/** An entity's lane among `lanes`: FNV-1a of its id, so the same entity always takes the same one. */
function laneOf(entity: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < entity.length; i++) {
    hash ^= entity.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}

class LiveAheadError extends Error {}

/**
 * Rebuilds a projection without downtime. Its tables are created in a shadow schema and the whole
 * log is replayed into them in short transactions (a long one would hold back the snapshot xmin that
 * every reader of the store waits on), while the live tables keep serving and the live loop keeps
 * applying. Then, with the live loop held at a checkpoint, one transaction applies the last events,
 * drops the live tables, moves the shadow ones into the live schema and sets the checkpoint.
 */
export async function rebuildInShadow(ctx: RebuildContext): Promise<RebuildResult> {
  const { database, store, projection, signal } = ctx;
  const name = projection.name;
  const live = database.schema;
  const shadow = shadowSchemaName(live, name);
  const rows = engineTables(database.db, live);
  const types = new Set(projection.types);
  const started = performance.now();
  const progress: RebuildProgress = { done: 0, total: await store.countAfter(0n) };
  if (!(await claimRebuild(rows, name, ctx.owner, progress.total))) throw new RebuildInProgressError(name);
  await ctx.onProgress({ ...progress });
  let applied = 0;
  let position = 0n;
  // Events handed to a shadow transaction; `progress.done` counts those committed.
  let dispatched = 0;

  // PGlite is one session, which a shadow page's transaction holds: there pages go in its background
  // lane (a request's statements go first) and hold it about PGLITE_PAGE_MS each, sized from the last
  // page's time per event, as the live loop's are. The first is the smallest, since nothing is known.
  // (On PostgreSQL `background` is the pool itself.)
  const pglite = database.kind === 'pglite';
  const writer = database.background;
  let limit = pglite ? Math.min(MIN_PGLITE_PAGE, ctx.batchSize) : ctx.batchSize;
  // The whole log, not just our types: a short page then holds every event visible after `after`,
  // so its last position is a complete checkpoint, and progress can count against the log's size.
  // A page is full when it holds as many events as it asked for.
  const readPage = async (after: bigint) => {
    const asked = limit;
    const events = await store.readAll({ after, limit: asked });
    return { events, full: events.length === asked };
  };
  // One short transaction per page: the shadow's rows and the lease heartbeat (with the progress).
  const commitShadow = async (events: readonly RecordedEvent[], next: bigint, done: number) => {
    await writer.transaction().execute(async (trx) => {
      // A crash loses the shadow's last commits at worst, and a rebuild then starts over anyway:
      // no need to wait for each commit's WAL flush.
      await sql`set local synchronous_commit = off`.execute(trx);
      await useSchemas(trx, [shadow, live]);
      await assertShadowIntact(database, trx, name, shadow);
      await applyEvents(projection, events, scoped(trx, shadow));
      const total = Math.max(progress.total, done);
      if (!(await heartbeatRebuild(engineTables(trx, live), name, ctx.owner, done, total))) {
        throw new RebuildFailedError(name, 'its lease was taken over (it stalled for too long)');
      }
    });
    // Pages may commit out of order: the checkpoint and the count only move forwards. The checkpoint
    // is read once every page before it is in (after the bulk phase's last await).
    if (next > position) position = next;
    progress.done = Math.max(progress.done, done);
    progress.total = Math.max(progress.total, progress.done);
    await ctx.onProgress({ ...progress });
  };
  // Split by entity on PostgreSQL: each page's events go to their entity's lane, and each lane commits
  // its parts of successive pages one after another (an entity's events in log order), while the two
  // lanes commit side by side. A failed part fails every later part of its lane without running it.
  const { entityOf } = projection;
  const lanes = database.kind === 'postgres' && entityOf && !projection.independentPages ? SHADOW_WRITERS : 1;
  const laneTails: Promise<void>[] = Array.from({ length: lanes }, () => Promise.resolve());
  const commitPage = (mine: readonly RecordedEvent[], next: bigint, done: number): Promise<unknown> => {
    const commit = (events: readonly RecordedEvent[], to: bigint) => commitShadow(events, to, done);
    // A page without our events still commits (on one lane): it moves the heartbeat and the progress.
    if (lanes === 1 || !entityOf || mine.length === 0) return commitInOrder(mine, next, commit);
    const parts: RecordedEvent[][] = Array.from({ length: lanes }, () => []);
    for (const event of mine) parts[laneOf(entityOf(event), lanes)]!.push(event);
    return Promise.all(
      parts.flatMap((part, lane) => {
        if (part.length === 0) return [];
        const committed = laneTails[lane]!.then(() => commitInOrder(part, next, commit));
        laneTails[lane] = committed;
        return [committed];
      }),
    );
  };
  const replay = async ({ events: page, full }: { events: readonly RecordedEvent[]; full: boolean }) => {
    const mine = page.filter((e) => types.has(e.type));
    const next = page.at(-1)?.position ?? position;
    dispatched += page.length;
    const done = dispatched;
    const started = performance.now();
    await commitPage(mine, next, done);
    if (pglite) limit = fitPglitePage(ctx.batchSize, page.length, performance.now() - started);
    applied += mine.length;
    // Counted after the furthest committed page, the one `progress.done` counts up to: after this
    // page's own end, a later page that committed first (a short last one, say) would count twice.
    if (full && progress.done >= progress.total)
      progress.total = progress.done + (await store.countAfter(position));
  };
  const checkAborted = () => {
    if (signal.aborted) throw new RebuildFailedError(name, 'the engine is stopping');
  };

  try {
    await recreateSchema(database.db, shadow);
    await database.db.transaction().execute(async (trx) => {
      await useSchemas(trx, [shadow, live]);
      await projection.createTables(scoped(trx, shadow));
      if (keepsSentinel(database)) await createSentinel(trx, shadow);
    });
    // Replay everything; the next page is read while earlier ones are written.
    // Two pages in flight would each read the shadow without the other's uncommitted rows: an issue
    // created on one and edited on the next would lose the edit.
    const writers =
      database.kind === 'postgres' && (projection.independentPages || entityOf) ? SHADOW_WRITERS : 1;
    const writing = new Set<Promise<void>>();
    let reading = readPage(0n);
    for (;;) {
      checkAborted();
      const page = await reading;
      const { full } = page;
      if (full) {
        reading = readPage(page.events.at(-1)!.position);
        // Awaited on the next turn; until then a failure must not count as unhandled.
        reading.catch(() => {});
      }
      const write = replay(page);
      writing.add(write);
      // A failed write stays in the set, so the wait below (or the final one) throws it.
      write.then(
        () => writing.delete(write),
        () => {},
      );
      if (writing.size >= writers) await Promise.race(writing);
      if (!full) break;
    }
    await Promise.all(writing);
    checkAborted();
    // Outside a transaction (names qualified with the shadow schema), so a projection may build its
    // indexes side by side on several connections. On PGlite they queue in the background lane: a
    // request then waits for the one build in progress, not for every one queued.
    if (projection.createIndexes) await projection.createIndexes(scoped(writer, shadow));
    checkAborted();
    // Tables made in one go have no planner statistics until autovacuum samples them (a minute or more
    // on a server; on PGlite, the upkeep's next pass): sampled now, the first queries on the swapped-in
    // tables are planned from their real rows instead of guesses. Statistics stay with a moved table.
    await sql`analyze ${sql.join(projection.tables.map((table) => sql.id(shadow, table)))}`.execute(writer);
    checkAborted();
    await ctx.pauseLive();
    for (let attempt = 1; ; attempt++) {
      checkAborted();
      let page = await readPage(position);
      while (page.full) {
        await replay(page);
        page = await readPage(position);
      }
      const tail = page.events.filter((e) => types.has(e.type));
      const next = page.events.at(-1)?.position ?? position;
      try {
        await swap(ctx, shadow, tail, next);
      } catch (error) {
        if (error instanceof LiveAheadError && attempt < SWAP_ATTEMPTS) continue;
        if (error instanceof LiveAheadError) {
          throw new RebuildFailedError(name, 'another process keeps moving the live checkpoint ahead');
        }
        if (!(error instanceof ApplyError)) throw error;
        // Find the culprit among the last events, one short transaction each.
        await replay(page);
        continue;
      }
      applied += tail.length;
      progress.done += page.events.length;
      progress.total = Math.max(progress.total, progress.done);
      await ctx.onProgress({ ...progress });
      position = next;
      break;
    }
  } catch (error) {
    await cleanUp(ctx, rows, shadow);
    if (error instanceof ApplyError) {
      throw new RebuildFailedError(
        name,
        error.message,
        error.event?.id ?? null,
        error.event?.position ?? null,
        {
          cause: error.cause,
        },
      );
    }
    throw error;
  }
  // Empty now: the tables moved out. Not `cascade`, so nothing a moved table still uses is dropped.
  await dropSchemaIfExists(database.db, shadow, false).catch((error: unknown) =>
    ctx.logger.warn({ err: error, projection: name, shadow }, 'the shadow schema could not be dropped'),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    events: progress.done,
    applied,
    position,
    seconds,
    eventsPerSecond: Math.round(progress.done / Math.max(seconds, 1e-6)),
  };
}

/**
 * The atomic step. The row lock holds off any other engine's live loop; the live tables' drop waits
 * for running queries and queues new ones, which then read the moved-in table.
 */
async function swap(ctx: RebuildContext, shadow: string, tail: readonly RecordedEvent[], next: bigint) {
  const { database, projection } = ctx;
  const live = database.schema;
  await database.db.transaction().execute(async (trx) => {
    const rows = engineTables(trx, live);
    const row = await lockRow(rows, projection.name);
    if (!row || row.rebuildOwner !== ctx.owner) {
      throw new RebuildFailedError(projection.name, 'its lease was taken over (it stalled for too long)');
    }
    await assertShadowIntact(database, trx, projection.name, shadow);
    // Never step the read model back behind what the live tables already showed.
    if (row.version === projection.version && row.position > next) throw new LiveAheadError();
    await useSchemas(trx, [shadow, live]);
    await applyEvents(projection, tail, scoped(trx, shadow));
    await moveTables(trx, projection.tables, shadow, live);
    if (keepsSentinel(database)) await dropTables(trx, shadow, [SHADOW_SENTINEL]);
    await completeRebuild(rows, projection.name, projection.version, next);
  });
}

/** On PostgreSQL the shadow keeps a sentinel (see SHADOW_SENTINEL); PGlite's crash is the process's own. */
const keepsSentinel = (database: Database) => database.kind === 'postgres';

async function assertShadowIntact(
  database: Database,
  db: QueryExecutorProvider,
  projection: string,
  shadow: string,
) {
  if (!keepsSentinel(database) || (await sentinelIntact(db, shadow))) return;
  throw new RebuildFailedError(
    projection,
    'the database server went through crash recovery, which empties unlogged tables: the shadow may have lost rows',
  );
}

async function cleanUp(ctx: RebuildContext, rows: ReturnType<typeof engineTables>, shadow: string) {
  const { database, projection, logger, owner } = ctx;
  try {
    // A rebuild that lost its lease leaves the shadow to the one that took the lease over.
    const row = (await readRows(rows, [projection.name])).get(projection.name);
    if (row?.rebuildOwner === owner) await dropSchemaIfExists(database.db, shadow);
    await releaseRebuild(rows, projection.name, owner);
  } catch (error) {
    logger.warn({ err: error, projection: projection.name, shadow }, 'the failed rebuild could not clean up');
  }
}
