import { randomUUID } from 'node:crypto';
import { type Kysely, type QueryExecutorProvider, sql } from 'kysely';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/eventstore/port.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';
import { visible } from '../support/visibility.ts';

/** The sample read model of these tests: how many events each stream has (times `weight`). */
export interface StreamCountsOptions {
  name?: string;
  table?: string;
  version?: number;
  /** Added per event: a version bump that changes it shows in the rows. */
  weight?: number;
  /** Offer the set-based path (default true). */
  batch?: boolean;
  /** Makes `apply`/`applyBatch` throw on this event, after writing its row (which must not survive). */
  failOn?: (event: RecordedEvent) => boolean;
  /** Called before each apply/applyBatch (tests use it to slow a projection down or count calls). */
  onApply?: (events: readonly RecordedEvent[]) => Promise<void> | void;
  /** Declares its pages independent (the counts add up in any order), so a rebuild may overlap them. */
  independentPages?: boolean;
}

export const COUNTED = 'Counted';

export function streamCounts(options: StreamCountsOptions = {}): Projection {
  const table = options.table ?? 'stream_counts';
  const weight = options.weight ?? 1;
  const failOn = options.failOn ?? (() => false);
  // Raw SQL with a bare table name: the engine's search_path points it at the live or shadow table.
  const add = async (db: Kysely<unknown>, streams: string[], counts: number[], positions: string[]) => {
    await sql`
      insert into ${sql.id(table)} (stream_id, events, last_position)
      select * from unnest(${streams}::text[], ${counts}::int[], ${positions}::bigint[])
      on conflict (stream_id) do update
        set events = ${sql.id(table)}.events + excluded.events, last_position = excluded.last_position`.execute(
      db,
    );
  };
  const projection: Projection = {
    name: options.name ?? 'streamCounts',
    version: options.version ?? 1,
    types: [COUNTED],
    tables: [table],
    ...(options.independentPages ? { independentPages: true } : {}),
    async createTables(db) {
      await db.schema
        .createTable(table)
        .addColumn('stream_id', 'text', (c) => c.primaryKey())
        .addColumn('events', 'integer', (c) => c.notNull())
        .addColumn('last_position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex(`${table}_events`).on(table).column('events').execute();
    },
    async apply(event, db) {
      await options.onApply?.([event]);
      await add(db as Kysely<unknown>, [event.streamId], [weight], [event.position.toString()]);
      if (failOn(event)) throw new Error(`cannot count event ${event.id}`);
    },
  };
  if (options.batch !== false) {
    projection.applyBatch = async (events, db) => {
      await options.onApply?.(events);
      const byStream = new Map<string, { count: number; last: bigint }>();
      for (const event of events) {
        const entry = byStream.get(event.streamId) ?? { count: 0, last: 0n };
        entry.count += weight;
        entry.last = event.position;
        byStream.set(event.streamId, entry);
      }
      const entries = [...byStream];
      await add(
        db as Kysely<unknown>,
        entries.map(([s]) => s),
        entries.map(([, e]) => e.count),
        entries.map(([, e]) => e.last.toString()),
      );
      if (events.some(failOn)) throw new Error('cannot count this batch');
    };
  }
  return projection;
}

export const counted = (n = 0): NewEvent => ({ id: randomUUID(), type: COUNTED, data: { n } });

/** Appends `streams × perStream` events, `perStream` per append (large appends: fast set-up). */
export async function appendMany(
  store: EventStore,
  streams: number,
  perStream: number,
  prefix = 'test.Counter',
) {
  const ids: string[] = [];
  let last = 0n;
  for (let s = 0; s < streams; s++) {
    const streamId = `${prefix}-${randomUUID()}`;
    ids.push(streamId);
    const events = Array.from({ length: perStream }, (_, i) => counted(i));
    last = (await store.append(streamId, events)).position;
  }
  await visible(store, last);
  return { streams: ids, last };
}

/** Rows of the live table: stream → events. */
export async function readCounts(
  db: QueryExecutorProvider,
  table = 'stream_counts',
): Promise<Map<string, number>> {
  const { rows } = await sql<{ stream_id: string; events: number }>`
    select stream_id, events from ${sql.id(table)}`.execute(db);
  return new Map(rows.map((r) => [r.stream_id, Number(r.events)]));
}

export async function totalCount(db: QueryExecutorProvider, table = 'stream_counts'): Promise<number> {
  const { rows } = await sql<{ total: string | number | null }>`
    select coalesce(sum(events), 0) as total from ${sql.id(table)}`.execute(db);
  return Number(rows[0]?.total ?? 0);
}
