import type { ColumnType, Generated, Kysely } from 'kysely';
import type { Database } from '../../db/database.ts';

/** One partition of one process manager: its checkpoint and its lease (migration 0003). */
export interface ProcessPartitionsTable {
  process: string;
  partition: number;
  position: ColumnType<string, string | bigint | undefined, string | bigint>;
  owner: string | null;
  lease_expires_at: ColumnType<Date, Date | undefined, Date>;
  handled: ColumnType<string, never, string | bigint>;
  last_error: string | null;
  failed_event_id: string | null;
  failed_position: ColumnType<string | null, string | bigint | null, string | bigint | null>;
  failed_at: Date | null;
  updated_at: Generated<Date>;
}

/** One worker process: who it is and when it last proved it was alive. */
export interface WorkersTable {
  id: string;
  host: string;
  pid: number;
  processes: ColumnType<string[], string[], string[]>;
  lease_ms: number;
  handled: ColumnType<string, string | bigint | undefined, string | bigint>;
  started_at: Generated<Date>;
  last_heartbeat: Generated<Date>;
  stopped_at: Date | null;
}

export interface ProcessTables {
  warden_process_partitions: ProcessPartitionsTable;
  warden_workers: WorkersTable;
}

/**
 * The database seen through the process tables. Kysely's table map is invariant, so the shared
 * `Tables` of the event store cannot simply be widened; the tables are created by migration 0003.
 */
export function processTables(database: Database): Kysely<ProcessTables> {
  return database.db as unknown as Kysely<ProcessTables>;
}
