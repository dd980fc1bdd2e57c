import { type Kysely, sql } from 'kysely';
import type { ProcessTables } from './tables.ts';

type Db = Kysely<ProcessTables>;

export interface OwnedPartition {
  partition: number;
  /** The partition's committed checkpoint. */
  position: bigint;
}

const leaseEnd = (leaseMs: number) => sql<Date>`now() + ${leaseMs} * interval '1 millisecond'`;
const toOwned = (rows: { partition: number; position: string }[]): OwnedPartition[] =>
  rows
    .map((r) => ({ partition: r.partition, position: BigInt(r.position) }))
    .sort((a, b) => a.partition - b.partition);

/**
 * Creates the partition rows of a process manager the first time any worker runs it, and returns
 * how many partitions it has. The first worker decides; the count never changes afterwards, since
 * moving a stream to another partition would break per-partition order and checkpoints.
 */
export async function ensurePartitions(
  db: Db,
  process: string,
  count: number,
  start: bigint,
): Promise<number> {
  const rows = Array.from({ length: count }, (_, partition) => ({ process, partition, position: start }));
  await db
    .insertInto('warden_process_partitions')
    .values(rows)
    .onConflict((oc) => oc.doNothing())
    .execute();
  const stored = await db
    .selectFrom('warden_process_partitions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('process', '=', process)
    .executeTakeFirstOrThrow();
  return Number(stored.n);
}

/**
 * Takes up to `limit` partitions nobody holds (free or lease expired). SKIP LOCKED makes concurrent
 * claimers pick disjoint rows and skips a row whose owner is committing a checkpoint right now.
 */
export async function claimPartitions(
  db: Db,
  process: string,
  worker: string,
  leaseMs: number,
  limit: number,
): Promise<OwnedPartition[]> {
  if (limit <= 0) return [];
  const { rows } = await sql<{ partition: number; position: string }>`
    update warden_process_partitions p
       set owner = ${worker}, lease_expires_at = ${leaseEnd(leaseMs)}, updated_at = now()
      from (select partition from warden_process_partitions
             where process = ${process} and (owner is null or lease_expires_at < now())
             order by partition
             limit ${limit}
             for update skip locked) free
     where p.process = ${process} and p.partition = free.partition
    returning p.partition, p.position`.execute(db);
  return toOwned(rows);
}

/** Extends the leases this worker still holds and returns them (a partition missing was taken). */
export async function renewLeases(db: Db, process: string, worker: string, leaseMs: number) {
  return (await renewAllLeases(db, worker, leaseMs, [process])).get(process) ?? [];
}

/**
 * Extends the leases this worker holds of every process in `processes` and returns them by process
 * (a partition missing was taken; a process holding none is absent): one statement for them all.
 */
export async function renewAllLeases(
  db: Db,
  worker: string,
  leaseMs: number,
  processes: readonly string[],
): Promise<Map<string, OwnedPartition[]>> {
  if (processes.length === 0) return new Map();
  const rows = await db
    .updateTable('warden_process_partitions')
    .set({ lease_expires_at: leaseEnd(leaseMs) })
    .where('process', 'in', [...processes])
    .where('owner', '=', worker)
    .returning(['process', 'partition', 'position'])
    .execute();
  const byProcess = new Map<string, { partition: number; position: string }[]>();
  for (const row of rows) {
    const owned = byProcess.get(row.process);
    if (owned) owned.push(row);
    else byProcess.set(row.process, [row]);
  }
  return new Map([...byProcess].map(([process, owned]) => [process, toOwned(owned)]));
}

/**
 * Moves a checkpoint from `from` to `to` if this worker still owns the partition and nobody moved
 * it meanwhile (compare-and-set). Run inside the handling transaction, it is the guard that makes a
 * worker that lost its lease roll back its effects instead of committing them.
 */
export async function advanceCheckpoint(
  db: Db,
  process: string,
  partition: number,
  worker: string,
  from: bigint,
  to: bigint,
  handled: number,
): Promise<boolean> {
  const result = await db
    .updateTable('warden_process_partitions')
    .set({
      position: to,
      handled: sql`handled + ${handled}`,
      updated_at: sql`now()`,
      ...(handled > 0
        ? { last_error: null, failed_event_id: null, failed_position: null, failed_at: null }
        : {}),
    })
    .where('process', '=', process)
    .where('partition', '=', partition)
    .where('owner', '=', worker)
    .where('position', '=', from.toString())
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Gives partitions back (graceful stop, rebalance) so another worker can claim them at once. */
export async function releasePartitions(
  db: Db,
  process: string,
  worker: string,
  partitions: readonly number[],
) {
  if (partitions.length === 0) return;
  await db
    .updateTable('warden_process_partitions')
    .set({ owner: null, lease_expires_at: sql`now()`, updated_at: sql`now()` })
    .where('process', '=', process)
    .where('owner', '=', worker)
    .where('partition', 'in', [...partitions])
    .execute();
}

/** Shows why a partition is stuck: the event that keeps failing and its error. */
export async function recordFailure(
  db: Db,
  process: string,
  partition: number,
  worker: string,
  event: { id: string; position: bigint },
  error: string,
): Promise<void> {
  await db
    .updateTable('warden_process_partitions')
    .set({
      last_error: error.slice(0, 2000),
      failed_event_id: event.id,
      failed_position: event.position,
      failed_at: sql`now()`,
    })
    .where('process', '=', process)
    .where('partition', '=', partition)
    .where('owner', '=', worker)
    .execute();
}
