import type { ColumnType, Generated, Kysely, QueryExecutorProvider } from 'kysely';
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
 * The same connection (or transaction) seen through another table map: the process tables, a
 * process manager's own, the jobs. Kysely's table map is invariant, so a database typed with one
 * map is never a `Kysely` of another; this is the one place in the runtime that says it is.
 */
export function viewAs<To>(db: QueryExecutorProvider): Kysely<To> {
  // cast: invariant table maps (see above); the connection and its tables are the same.
  return db as Kysely<To>;
}

/** The database seen through the process tables (created by migration 0003). */
export function processTables(database: Database): Kysely<ProcessTables> {
  return viewAs<ProcessTables>(database.background);
}
