import type { ColumnType, Generated, Kysely, QueryExecutorProvider } from 'kysely';
import type { Database } from '../../db/database.ts';
import type { JobTables } from './jobs/queue.ts';

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

/**
 * Where a job runner sends the queue's own statements (claims, lease renewals, completions, a tool
 * job's tenant count): the foreground, as a request's. On PGlite, background work (projection pages,
 * process managers) gives way to requests; a claim queued among it waited for the projection pages
 * the job's own request had just set going (5.1 ms at the median in bench:images, 1.5 ms in the
 * foreground), and what it starts is work a user waits on: a build, a tool run, a package's checks.
 * Each is one short statement, a few a job, so requests lose next to nothing. The work a job does
 * stays in the background. On PostgreSQL both are the pool.
 */
export function jobQueueOf(database: Pick<Database, 'db'>): Kysely<JobTables> {
  return viewAs<JobTables>(database.db);
}

/** The database seen through the process tables (created by migration 0003). */
export function processTables(database: Database): Kysely<ProcessTables> {
  return viewAs<ProcessTables>(database.background);
}
