import type { ColumnType, Generated } from 'kysely';

/** Tables of the event store (owned by the PostgreSQL adapter). */
export interface EventsTable {
  position: ColumnType<string, string | bigint, never>;
  id: string;
  stream_id: string;
  revision: ColumnType<string, number, never>;
  type: string;
  data: unknown;
  metadata: unknown;
  tenant_id: string | null;
  recorded_at: ColumnType<Date, never, never>;
}

export interface StreamsTable {
  stream_id: string;
  revision: ColumnType<string, number, number>;
}

/** Checkpoints of projections and process managers. */
export interface CheckpointsTable {
  name: string;
  position: ColumnType<string, string | bigint, string | bigint>;
  updated_at: Generated<Date>;
}

export interface Tables {
  warden_events: EventsTable;
  warden_streams: StreamsTable;
  warden_checkpoints: CheckpointsTable;
}
