import { type ColumnType, type Kysely, sql } from 'kysely';

/** A queued job (migration 0012). */
export interface JobsTable {
  id: string;
  queue: string;
  kind: string;
  tenant_id: string | null;
  /** What the job is about (a stream id): shown in the admin views, one job per subject and kind at a time. */
  subject: string;
  payload: ColumnType<unknown, string | undefined, string>;
  run_after: ColumnType<Date, Date | undefined, Date>;
  attempts: ColumnType<number, number | undefined, number>;
  locked_by: string | null;
  locked_until: Date | null;
  claimed_at: ColumnType<Date | null, never, never>;
  last_error: string | null;
  created_at: ColumnType<Date, never, never>;
}
export type JobTables = { warden_jobs: JobsTable };

export interface Job {
  id: string;
  queue: string;
  kind: string;
  tenantId: string | null;
  subject: string;
  payload: unknown;
  /** Attempts before this one. */
  attempts: number;
}

export interface NewJob {
  /** Derived from the causing event, so a re-handled event queues nothing new. */
  id: string;
  queue: string;
  kind: string;
  tenantId?: string;
  subject: string;
  payload?: unknown;
}

/** The NOTIFY channel that wakes job runners; the payload is `<schema>:<queue>` (see {@link jobNotice}). */
export const JOBS_CHANNEL = 'warden_jobs';

/** The payload announcing due jobs of `queue` in the tables of `schema`. */
export const jobNotice = (schema: string, queue: string) => `${schema}:${queue}`;

/**
 * Tells the runners of these queues (in any worker on this database) that jobs are due. Inside a
 * transaction the notice is delivered when it commits, so a woken runner finds the jobs there.
 */
async function notify(db: Kysely<JobTables>, queues: readonly string[]): Promise<void> {
  await sql`select pg_notify(${JOBS_CHANNEL}, current_schema() || ':' || q)
              from unnest(${[...new Set(queues)]}::text[]) q`.execute(db);
}

/**
 * Queues jobs in the caller's transaction (a process manager's), once per id, and wakes their
 * runners: the insert and the notice are one statement (one round trip; a request that queues a job
 * answers that much sooner), the notice still delivered only when the insert commits. Only queues
 * that got a new job are woken: a job queued again (a process manager making sure of a job the
 * request queued) was announced by its first insert, and a notice for it would cost every runner
 * of the queue a claim that finds nothing.
 */
export async function enqueue(db: Kysely<JobTables>, jobs: readonly NewJob[]): Promise<void> {
  if (jobs.length === 0) return;
  const insert = db
    .insertInto('warden_jobs')
    .values(
      jobs.map((job) => ({
        id: job.id,
        queue: job.queue,
        kind: job.kind,
        tenant_id: job.tenantId ?? null,
        subject: job.subject,
        payload: JSON.stringify(job.payload ?? {}),
        locked_by: null,
        locked_until: null,
        last_error: null,
      })),
    )
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('queue');
  await sql`
    with inserted as (${insert})
    select pg_notify(${JOBS_CHANNEL}, current_schema() || ':' || q.queue)
      from (select distinct queue from inserted) q`.execute(db);
}

/**
 * Claims up to `limit` due jobs of a queue for `owner` until the lease ends. SKIP LOCKED lets
 * competing workers claim different jobs; a job whose owner died is claimable again once its lease
 * has passed. Claims and completions are fixed texts, sent as named prepared statements (planned
 * once per connection): every job costs one of each.
 */
export async function claim(
  db: Kysely<JobTables>,
  queue: string,
  owner: string,
  limit: number,
  leaseMs: number,
): Promise<Job[]> {
  if (limit <= 0) return [];
  const rows = await sql<{
    id: string;
    queue: string;
    kind: string;
    tenant_id: string | null;
    subject: string;
    payload: unknown;
    attempts: number;
  }>`/* prepared:warden_jobs_claim */
    update warden_jobs j
       set locked_by = ${owner},
           locked_until = now() + make_interval(secs => ${leaseMs / 1000}),
           claimed_at = now()
      from (select id from warden_jobs
             where queue = ${queue}
               and run_after <= now()
               and (locked_until is null or locked_until < now())
             order by run_after, created_at
             limit ${limit}
             for update skip locked) due
     where j.id = due.id
    returning j.id, j.queue, j.kind, j.tenant_id, j.subject, j.payload, j.attempts`.execute(db);
  return rows.rows.map((r) => ({
    id: r.id,
    queue: r.queue,
    kind: r.kind,
    tenantId: r.tenant_id,
    subject: r.subject,
    payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
    attempts: r.attempts,
  }));
}

/** Extends the lease of jobs still running (called on the worker's heartbeat). */
export async function renew(db: Kysely<JobTables>, owner: string, ids: readonly string[], leaseMs: number) {
  if (ids.length === 0) return;
  await db
    .updateTable('warden_jobs')
    .set({ locked_until: sql`now() + make_interval(secs => ${leaseMs / 1000})` })
    .where('locked_by', '=', owner)
    .where('id', 'in', [...ids])
    .execute();
}

/** The job's effect is recorded: it leaves the queue. */
export async function complete(db: Kysely<JobTables>, id: string, owner: string): Promise<void> {
  await sql`/* prepared:warden_jobs_complete */
    delete from warden_jobs where id = ${id} and locked_by = ${owner}`.execute(db);
}

/** Gives the job back to run again after `delayMs`, counting the attempt and keeping the error. */
export async function reschedule(
  db: Kysely<JobTables>,
  id: string,
  owner: string,
  delayMs: number,
  error: string,
): Promise<void> {
  await db
    .updateTable('warden_jobs')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      run_after: sql`now() + make_interval(secs => ${delayMs / 1000})`,
      locked_by: null,
      locked_until: null,
      last_error: error.slice(0, 2000),
    }))
    .where('id', '=', id)
    .where('locked_by', '=', owner)
    .execute();
}

/** Releases jobs claimed but not started (a stopping worker), so another worker takes them at once. */
export async function release(db: Kysely<JobTables>, owner: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const released = await db
    .updateTable('warden_jobs')
    .set({ locked_by: null, locked_until: null })
    .where('locked_by', '=', owner)
    .where('id', 'in', [...ids])
    .returning('queue')
    .execute();
  await notify(
    db,
    released.map((r) => r.queue),
  );
}

/** Jobs per queue and state, for stats and metrics. */
export async function queueDepth(
  db: Kysely<JobTables>,
): Promise<{ queue: string; kind: string; due: number; running: number; delayed: number }[]> {
  const rows = await sql<{ queue: string; kind: string; due: string; running: string; delayed: string }>`
    select queue, kind,
           count(*) filter (where (locked_until is null or locked_until < now()) and run_after <= now()) as due,
           count(*) filter (where locked_until >= now()) as running,
           count(*) filter (where run_after > now() and (locked_until is null or locked_until < now())) as delayed
      from warden_jobs group by queue, kind order by queue, kind`.execute(db);
  return rows.rows.map((r) => ({
    queue: r.queue,
    kind: r.kind,
    due: Number(r.due),
    running: Number(r.running),
    delayed: Number(r.delayed),
  }));
}
