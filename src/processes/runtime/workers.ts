import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import { type ProcessTables, viewAs } from './tables.ts';

type Db = Kysely<ProcessTables>;

export interface WorkerIdentity {
  id: string;
  host: string;
  pid: number;
  processes: readonly string[];
  leaseMs: number;
}

/** Writes (or rewrites, for a restarted worker with a stable id) this worker's row. */
export async function registerWorker(db: Db, worker: WorkerIdentity): Promise<void> {
  const row = {
    id: worker.id,
    host: worker.host,
    pid: worker.pid,
    processes: [...worker.processes],
    lease_ms: worker.leaseMs,
    handled: '0',
  };
  await db
    .insertInto('warden_workers')
    .values(row)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        ...row,
        started_at: sql`now()`,
        last_heartbeat: sql`now()`,
        stopped_at: null,
      }),
    )
    .execute();
  // Rows of workers gone for a day only clutter the admin view.
  await db
    .deleteFrom('warden_workers')
    .where('last_heartbeat', '<', sql<Date>`now() - interval '1 day'`)
    .execute();
}

/** Proves the worker alive; false when its row is gone. */
export async function heartbeat(db: Db, id: string, handled: number): Promise<boolean> {
  const result = await db
    .updateTable('warden_workers')
    .set({ last_heartbeat: sql`now()`, handled: BigInt(handled), stopped_at: null })
    .where('id', '=', id)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function markStopped(db: Db, id: string, handled: number): Promise<void> {
  await db
    .updateTable('warden_workers')
    .set({ last_heartbeat: sql`now()`, handled: BigInt(handled), stopped_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

/**
 * Per process, the workers running it whose heartbeat is younger than their lease: they share its
 * partitions. One statement for every process a worker runs (its heartbeat asked once per process).
 */
export async function countLiveWorkers(db: Db): Promise<Map<string, number>> {
  const { rows } = await sql<{ process: string; n: string }>`
    select p as process, count(*) as n
      from warden_workers, unnest(processes) as p
     where stopped_at is null and last_heartbeat > now() - lease_ms * interval '1 millisecond'
     group by p`.execute(db);
  return new Map(rows.map((r) => [r.process, Number(r.n)]));
}

export interface PartitionStatus {
  process: string;
  partition: number;
  /** Global position of the last event handled (or skipped as not this partition's). */
  position: bigint;
  owner: string | null;
  leaseExpiresAt: Date;
  handled: number;
  lastError: string | null;
  failedEventId: string | null;
  failedPosition: bigint | null;
  failedAt: Date | null;
}

export interface WorkerStatus {
  id: string;
  host: string;
  pid: number;
  processes: string[];
  /** `live`: heartbeat within its lease; `stopped`: stopped gracefully; `missing`: stopped beating. */
  state: 'live' | 'stopped' | 'missing';
  startedAt: Date;
  lastHeartbeat: Date;
  stoppedAt: Date | null;
  /** Events handled since it started. */
  handled: number;
  /** Partitions whose lease it holds (a missing worker keeps them until the lease runs out). */
  partitions: { process: string; partition: number; position: bigint; leaseExpiresAt: Date }[];
}

/** Every partition of every process manager, ordered (for `/v1/admin/workers` and the CLI). */
export async function listPartitions(database: Pick<Database, 'db'>): Promise<PartitionStatus[]> {
  const db = viewAs<ProcessTables>(database.db);
  const rows = await db
    .selectFrom('warden_process_partitions')
    .selectAll()
    .orderBy('process')
    .orderBy('partition')
    .execute();
  return rows.map((r) => ({
    process: r.process,
    partition: r.partition,
    position: BigInt(r.position),
    owner: r.owner,
    leaseExpiresAt: r.lease_expires_at,
    handled: Number(r.handled),
    lastError: r.last_error,
    failedEventId: r.failed_event_id,
    failedPosition: r.failed_position === null ? null : BigInt(r.failed_position),
    failedAt: r.failed_at,
  }));
}

/**
 * Workers with their heartbeats, handled counts and the partitions they own — the data behind
 * `GET /v1/admin/workers`. Positions are bigint: render them as strings in JSON.
 */
export async function listWorkers(database: Pick<Database, 'db'>): Promise<WorkerStatus[]> {
  const db = viewAs<ProcessTables>(database.db);
  const [workers, partitions] = await Promise.all([
    db
      .selectFrom('warden_workers')
      .selectAll()
      .select(sql<boolean>`last_heartbeat > now() - lease_ms * interval '1 millisecond'`.as('beating'))
      .orderBy('started_at')
      .orderBy('id')
      .execute(),
    listPartitions(database),
  ]);
  return workers.map((w) => ({
    id: w.id,
    host: w.host,
    pid: w.pid,
    processes: w.processes,
    state: w.stopped_at !== null ? 'stopped' : w.beating ? 'live' : 'missing',
    startedAt: w.started_at,
    lastHeartbeat: w.last_heartbeat,
    stoppedAt: w.stopped_at,
    handled: Number(w.handled),
    partitions: partitions
      .filter((p) => p.owner === w.id)
      .map((p) => ({
        process: p.process,
        partition: p.partition,
        position: p.position,
        leaseExpiresAt: p.leaseExpiresAt,
      })),
  }));
}
