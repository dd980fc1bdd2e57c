import type { Pool } from 'pg';
import type { Step } from './measure.ts';
import { benchEvent, STREAMS_PER_WRITER, streamId } from './payload.ts';

/**
 * The baseline: what a careful engineer writes to store the same event row without an event store.
 * A global-order key, a unique event id, the stream as text, the same json payloads, a timestamp.
 * No stream table, no revision, no expected-version check: that is the event store's work.
 */
export const RAW_TABLE_DDL = `create table raw_events (
  position bigint generated always as identity primary key,
  id uuid not null unique,
  stream_id text not null,
  type text not null,
  data json not null,
  metadata json not null,
  recorded_at timestamptz not null default now()
)`;

export async function createRawTable(pool: Pool): Promise<void> {
  await pool.query(RAW_TABLE_DDL);
}

const COLUMNS = 5;

function insertText(rows: number): string {
  const tuples = Array.from({ length: rows }, (_, r) => {
    const p = Array.from({ length: COLUMNS }, (_, c) => `$${r * COLUMNS + c + 1}`);
    return `(${p.join(', ')})`;
  });
  return `insert into raw_events (id, stream_id, type, data, metadata) values ${tuples.join(', ')}`;
}

/**
 * Inserts `rows` rows per statement (1 = single-row INSERT, 100 = one multi-row INSERT) as a named
 * prepared statement, so the server parses and plans it once per connection.
 */
export function rawInserter(pool: Pool, tag: string, rows: number): Step {
  const text = insertText(rows);
  const name = `raw_insert_${rows}`;
  const counters = new Map<number, number>();
  return async (worker) => {
    const i = counters.get(worker) ?? 0;
    counters.set(worker, i + 1);
    const stream = streamId(tag, worker, i % STREAMS_PER_WRITER);
    const values: unknown[] = [];
    for (let k = 0; k < rows; k++) {
      const e = benchEvent(worker, i * rows + k);
      values.push(e.id, stream, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata));
    }
    await pool.query({ name, text, values });
    return rows;
  };
}

/**
 * Keyset-paged read of a Warden event table in position order: the plain SQL a reader would write
 * without the event store (no visibility horizon, no mapping to RecordedEvent).
 */
export async function rawReadAll(pool: Pool, table: string, max: number, pageSize = 1000): Promise<number> {
  const text = `select position, id, stream_id, revision, type, data, metadata, tenant_id, recorded_at
    from ${table} where position > $1 order by position limit $2`;
  let after = '0';
  let read = 0;
  while (read < max) {
    const { rows } = await pool.query<{ position: string }>({
      name: 'raw_read_all',
      text,
      values: [after, pageSize],
    });
    if (rows.length === 0) break;
    read += rows.length;
    after = rows[rows.length - 1]!.position;
  }
  return read;
}
