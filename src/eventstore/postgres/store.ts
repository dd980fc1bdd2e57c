import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import { preparedAs } from '../../db/prepared-statements.ts';
import type { Tables } from '../../db/tables.ts';
import {
  type AppendListener,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type EventTypeAt,
  InvalidAppendError,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  typesOf,
  WrongExpectedRevisionError,
} from '../port.ts';
import { subscribeByPolling, TailPoller } from '../subscription.ts';
import { type ValidAppend, validateAppend, validateReadLimit, validateStreamRead } from '../validate.ts';
import { GROUP_COMMIT_DEFAULTS, GroupCommit, type GroupCommitOptions } from './group-commit.ts';

export interface PostgresEventStoreOptions {
  /** How often the live subscriptions' one poll of the tail looks for other processes' appends. */
  pollIntervalMs?: number;
  /** How appends expecting `any` are grouped while others are in flight (see {@link GroupCommit}). */
  groupCommit?: GroupCommitOptions;
}

/**
 * The append listeners of each database's log, shared by every store over it in this process: a
 * transaction's appends (the process runtime's) are announced to them once it commits. Created by
 * the first `onAppend`: a store bound to one transaction, which nobody listens to, adds nothing.
 */
const appendListeners = new WeakMap<Database, Set<AppendListener>>();

function listenersOf(database: Database): Set<AppendListener> {
  let listeners = appendListeners.get(database);
  if (!listeners) {
    listeners = new Set();
    appendListeners.set(database, listeners);
  }
  return listeners;
}

/** Tells the listeners of `database`'s stores that appends of `types`, up to `position`, are committed. */
export function announceAppends(database: Database, types: readonly string[], position: bigint): void {
  for (const listener of appendListeners.get(database) ?? []) listener(types, position);
}

/**
 * The PostgreSQL adapter (real server or PGlite). One round trip per append through the
 * `warden_append` function (appends expecting `any` that arrive together share one: see
 * {@link GroupCommit}); reads below the snapshot's xmin mark so no reader skips a late commit.
 */
export function postgresEventStore(database: Database, options: PostgresEventStoreOptions = {}): EventStore {
  const db = database.db;
  const pollIntervalMs = options.pollIntervalMs ?? 50;

  /** One append alone: its own statement and transaction, with the adapter's errors. */
  async function appendOne(valid: ValidAppend): Promise<AppendResult> {
    try {
      return await callAppend(db, valid);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // A retry of an append that already happened (same event ids) answers as the original did.
      if (code === 'WE001' || code === '23505') {
        const original = await findOriginal(db, valid);
        if (original) return original;
      }
      if (code === 'WE001') {
        const actual = Number((error as { detail?: string }).detail);
        throw new WrongExpectedRevisionError(
          valid.streamId,
          valid.expected,
          actual < 0 ? 'no_stream' : actual,
        );
      }
      if (code === '23505')
        throw new InvalidAppendError('events', 'an event id is already used by another event');
      throw error;
    }
  }

  const groups = new GroupCommit(
    appendOne,
    (appends) => callAppendMany(db, appends),
    options.groupCommit ?? GROUP_COMMIT_DEFAULTS,
  );

  async function append(
    streamId: string,
    events: readonly NewEvent[],
    opts?: AppendOptions,
  ): Promise<AppendResult> {
    const valid = validateAppend(streamId, events, opts);
    // Records of decided facts (`any`) may share a statement with others in flight; an append that
    // expects a revision goes alone, so a conflict fails it and nothing else.
    const result = await (valid.expected === 'any' ? groups.append(valid) : appendOne(valid));
    if (appendListeners.get(database)?.size)
      announceAppends(database, typesOf(valid.events), result.position);
    return result;
  }

  async function readStream(streamId: string, opts: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const { limit, from: named } = validateStreamRead(streamId, opts);
    const backwards = opts.direction === 'backwards';
    // "start" is revision 0; "end" is past every revision (forwards: nothing; backwards: the default).
    const from = named === 'start' ? 0 : named === 'end' ? MAX_REVISION : named;
    // Every command and many queries load a stream (a tool run, six times): two fixed texts, so the
    // driver sends them as named prepared statements, parsed and planned once per connection (about
    // 0.1 ms of server CPU each against 0.23–0.3 ms unnamed, on PostgreSQL 15). No `from` is the
    // whole range: from revision 0 forwards, from the largest bigint backwards.
    const { rows } = backwards
      ? await sql<EventRow>`/* prepared:warden_read_stream_backwards */
          select ${EVENT_COLUMNS} from warden_events
           where stream_id = ${streamId} and revision <= ${from ?? MAX_REVISION}::bigint
           order by revision desc limit ${limit}`.execute(db)
      : await sql<EventRow>`/* prepared:warden_read_stream */
          select ${EVENT_COLUMNS} from warden_events
           where stream_id = ${streamId} and revision >= ${from ?? 0}::bigint
           order by revision asc limit ${limit}`.execute(db);
    return rows.map(toRecorded);
  }

  async function readAll(opts: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = opts.after ?? 0n;
    const limit = validateReadLimit(opts.limit);
    // The event's columns, not its tenant (which the metadata carries): one value fewer a row to send and parse.
    let page = db
      .selectFrom('warden_events')
      .select(['position', 'id', 'stream_id', 'revision', 'type', 'data', 'metadata', 'recorded_at'])
      .where('position', '>', after.toString() as never);
    if (opts.types) {
      if (opts.types.length === 0) return [];
      page = page.where('type', 'in', [...opts.types]);
    }
    // The ordered LIMIT first, the visibility bound outside it: inside the range condition the bound
    // hides the range's size from the planner, which then sorts the whole remaining log for large
    // pages. Dropping rows at or above the bound removes a suffix of the page, so what remains is
    // still every visible event after `after`, in order.
    // Not a named prepared statement (as the tail poll is): its plan depends on the values. A generic
    // plan walks the log by position and filters the types; from the start of a 1M-event log, for a
    // type one event in 1,000 has, that took 645 ms a page against 7 ms for the custom plan's
    // (type, position) index scan.
    const rows = await db
      .selectFrom(page.orderBy('position').limit(limit).as('page'))
      .selectAll()
      .where(sql<boolean>`position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)`)
      .orderBy('position')
      .execute();
    return rows.map(toRecorded);
  }

  async function readPositions(opts: { after: bigint; limit: number }): Promise<EventTypeAt[]> {
    const limit = validateReadLimit(opts.limit);
    // As readAll: the ordered LIMIT inside, the visibility bound outside.
    const page = db
      .selectFrom('warden_events')
      .select(['position', 'type'])
      .where('position', '>', opts.after.toString() as never)
      .orderBy('position')
      .limit(limit);
    // Every live store polls it (50 ms by default): a named prepared statement (see preparedAs).
    const rows = await db
      .selectFrom(page.as('page'))
      .select(['position', 'type'])
      .where(sql<boolean>`position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)`)
      .orderBy('position')
      .modifyEnd(preparedAs('warden_read_positions'))
      .execute();
    return rows.map((row) => ({ position: BigInt(row.position), type: row.type }));
  }

  const onAppend = (listener: AppendListener) => {
    const listeners = listenersOf(database);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  };

  async function headPosition(): Promise<bigint> {
    const row = await db
      .selectFrom('warden_events')
      .select((eb) => eb.fn.max('position').as('head'))
      .where(sql<boolean>`position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)`)
      .modifyEnd(preparedAs('warden_head_position'))
      .executeTakeFirst();
    return BigInt(row?.head ?? 0);
  }

  async function countAfter(position: bigint): Promise<number> {
    const row = await db
      .selectFrom('warden_events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('position', '>', position.toString() as never)
      .where(sql<boolean>`position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)`)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // Every live subscription of this store learns of other processes' appends from this one poll.
  const tail = new TailPoller({ headPosition, readPositions }, pollIntervalMs);

  const store: EventStore = {
    name: database.kind,
    append,
    readStream,
    readAll,
    subscribe: (opts: SubscribeOptions = {}) =>
      subscribeByPolling(readAll, opts, { pollIntervalMs, onAppend, tail }),
    headPosition,
    countAfter,
    readPositions,
    onAppend,
    close: async () => {},
  };
  return store;
}

async function callAppend(db: Kysely<Tables>, valid: ValidAppend): Promise<AppendResult> {
  const mode = typeof valid.expected === 'number' ? 'exact' : valid.expected;
  const expected = typeof valid.expected === 'number' ? valid.expected : null;
  const e = valid.events;
  const tenant = tenantOfEvents(e);
  // Data and metadata are JSON texts already: joined into one JSON array each (see migration 0021).
  // A fixed text, so the PostgreSQL driver sends it as a named prepared statement.
  const { rows } = await sql<{ last_revision: string; last_position: string }>`/* prepared:warden_append */
    select * from warden_append(
      ${valid.streamId}::text, ${mode}::text, ${expected}::bigint,
      ${e.map((x) => x.id)}::uuid[], ${e.map((x) => x.type)}::text[],
      ${`[${e.map((x) => x.data).join(',')}]`}::json, ${`[${e.map((x) => x.metadata).join(',')}]`}::json,
      ${tenant}::text)`.execute(db);
  const row = rows[0]!;
  return { revision: Number(row.last_revision), position: BigInt(row.last_position) };
}

/**
 * Several appends in one statement (one transaction): `warden_append` once per append, in order,
 * each with its own stream, expectation and tenant, so positions and revisions are exactly those of
 * separate appends. The appends travel as one JSON array whose data and metadata are the events'
 * JSON texts spliced in unchanged (as in {@link callAppend}). They go in stream-id order, so two
 * groups in flight lock the streams they share in the same order and cannot deadlock each other.
 */
async function callAppendMany(db: Kysely<Tables>, appends: readonly ValidAppend[]): Promise<AppendResult[]> {
  const text = (value: string | null) => JSON.stringify(value);
  const order = appends
    .map((_, i) => i)
    .sort((a, b) =>
      appends[a]!.streamId < appends[b]!.streamId
        ? -1
        : appends[a]!.streamId > appends[b]!.streamId
          ? 1
          : a - b,
    );
  const items = order.map((index) => {
    const valid = appends[index]!;
    const mode = typeof valid.expected === 'number' ? 'exact' : valid.expected;
    const expected = typeof valid.expected === 'number' ? valid.expected : null;
    const e = valid.events;
    return (
      `{"stream":${text(valid.streamId)},"mode":${text(mode)},"expected":${expected ?? 'null'},` +
      `"tenant":${text(tenantOfEvents(e))},"ids":${JSON.stringify(e.map((x) => x.id))},` +
      `"types":${JSON.stringify(e.map((x) => x.type))},` +
      `"data":[${e.map((x) => x.data).join(',')}],"metadata":[${e.map((x) => x.metadata).join(',')}]}`
    );
  });
  const { rows } = await sql<{
    i: string;
    last_revision: string;
    last_position: string;
  }>`/* prepared:warden_append_many */
    select x.i, a.last_revision, a.last_position
    from json_array_elements(${`[${items.join(',')}]`}::json) with ordinality as x(append, i)
    cross join lateral warden_append(
      x.append->>'stream', x.append->>'mode', (x.append->>'expected')::bigint,
      array(select json_array_elements_text(x.append->'ids'))::uuid[],
      array(select json_array_elements_text(x.append->'types')),
      x.append->'data', x.append->'metadata', x.append->>'tenant') as a
    order by x.i`.execute(db);
  if (rows.length !== appends.length) throw new Error(`${rows.length} results for ${appends.length} appends`);
  const results: AppendResult[] = [];
  rows.forEach((row, k) => {
    results[order[k]!] = { revision: Number(row.last_revision), position: BigInt(row.last_position) };
  });
  return results;
}

/** The tenant column of an append: its events' tenant when they share one. */
function tenantOfEvents(e: ValidAppend['events']): string | null {
  return e.every((event) => event.tenantId === e[0]?.tenantId) ? (e[0]?.tenantId ?? null) : null;
}

/** The result of an earlier append of exactly these event ids to this stream, if there was one. */
async function findOriginal(db: Kysely<Tables>, valid: ValidAppend): Promise<AppendResult | undefined> {
  const ids = valid.events.map((e) => e.id);
  const rows = await db
    .selectFrom('warden_events')
    .select(['id', 'stream_id', 'revision', 'position'])
    .where('id', 'in', ids)
    .orderBy('revision')
    .execute();
  if (rows.length !== ids.length || rows.some((r, i) => r.stream_id !== valid.streamId || r.id !== ids[i])) {
    return undefined;
  }
  const last = rows[rows.length - 1]!;
  return { revision: Number(last.revision), position: BigInt(last.position) };
}

/**
 * The columns a prepared read names: never `*`, whose plan a later migration adding a column would
 * break on every connection that had prepared it ("cached plan must not change result type").
 */
const EVENT_COLUMNS = sql.raw('position, id, stream_id, revision, type, data, metadata, recorded_at');

/** The largest revision a bigint holds: a backwards read without `from` starts at the stream's last. */
const MAX_REVISION = '9223372036854775807';

interface EventRow {
  position: string;
  id: string;
  stream_id: string;
  revision: string;
  type: string;
  data: unknown;
  metadata: unknown;
  recorded_at: Date;
}

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    type: row.type,
    data: parseJson(row.data),
    metadata: parseJson(row.metadata) as RecordedEvent['metadata'],
    streamId: row.stream_id,
    revision: Number(row.revision),
    position: BigInt(row.position),
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
  };
}

/** `json` columns arrive parsed from node-postgres and as text from some drivers. */
function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}
