import { type Kysely, sql } from 'kysely';
import { effectiveLimits, LimitOverrides, plans } from '../../commands/tenancy/index.ts';
import { changeExecution, findExecution } from '../../commands/tools/index.ts';
import type { Database } from '../../db/database.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { type AdvisoryTables, advisoryFindings } from '../../packages/index.ts';
import type { TenantListTables } from '../../projections/tenancy/index.ts';
import { loadingCache } from '../../runtime/cache.ts';
import {
  type AdvisoryLookup,
  CANCEL_CHANNEL,
  type Catalog,
  catalog as defaultCatalog,
  type ProcessRunner,
  processRunner,
  type Resolve,
  type ToolOutputTables,
} from '../../tools/index.ts';
import type { ProcessLogger } from '../runtime/index.ts';
import {
  cancelNotices,
  enqueue,
  type Job,
  JobRunner,
  type JobTables,
  jobQueueOf,
  viewAs,
  wakeOnJobs,
} from '../runtime/index.ts';
import { type ExecutionDeps, runExecution, type ToolJobPayload } from './run-execution.ts';

/** The queue tool executions wait in, spread over every worker. */
export const TOOLS_QUEUE = 'tools';

/** The firewall's advisory table as the advisory lookup tool reads it. */
export function advisoryLookup(db: Kysely<AdvisoryTables>): AdvisoryLookup {
  return async (name, version) =>
    (await advisoryFindings(db, name, version)).map((f) => ({
      id: f.id,
      summary: f.summary,
      severity: f.severity,
      aliases: f.aliases ?? [],
    }));
}

export interface ToolJobs {
  current(): ReturnType<JobRunner['current']>;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts this worker's tool runner: claims executions from the `tools` queue up to `concurrency`
 * at once (the per-worker limit), runs each outside any transaction, and listens for cancel
 * requests on one connection. A job whose worker died is claimed again once its lease lapses, and
 * then recorded `interrupted` instead of being run a second time.
 */
export function startToolJobs(options: {
  database: Database;
  store: EventStore;
  owner: string;
  logger: ProcessLogger;
  concurrency?: number;
  catalog?: Catalog;
  processes?: ProcessRunner;
  resolve?: Resolve;
  /** Addresses no run may reach whatever a tenant's allowlist says (`WARDEN_TOOL_DENIED_TARGETS`; default none). */
  deniedTargets?: readonly string[];
  clock?: () => Date;
  leaseMs?: number;
  pollMs?: number;
  outputCapBytes?: number;
  cancelPollMs?: number;
  /**
   * Executions of one tenant running at once over all workers; more wait, queued. By default the
   * tenant's plan decides (`toolConcurrency`, read at most once a minute per tenant).
   */
  tenantConcurrency?: number | ((tenantId: string) => Promise<number>);
}): ToolJobs {
  const db = options.database.background;
  const schema = options.database.schema;
  const cancels = cancelNotices(schema);
  const deps = {
    store: options.store,
    db: viewAs<ToolOutputTables>(db),
    catalog: options.catalog ?? defaultCatalog(),
    processes: options.processes ?? processRunner(),
    advisories: advisoryLookup(viewAs<AdvisoryTables>(db)),
    ...(options.resolve ? { resolve: options.resolve } : {}),
    ...(options.deniedTargets ? { deniedTargets: options.deniedTargets } : {}),
    clock: options.clock ?? (() => new Date()),
    logger: options.logger,
    worker: options.owner,
    ...(options.outputCapBytes ? { outputCapBytes: options.outputCapBytes } : {}),
    ...(options.cancelPollMs ? { cancelPollMs: options.cancelPollMs } : {}),
  };
  const jobs = jobQueueOf(options.database);
  const fixed = options.tenantConcurrency;
  const limitOf =
    typeof fixed === 'function'
      ? fixed
      : fixed !== undefined
        ? async () => fixed
        : planConcurrency(viewAs<TenantListTables>(db), deps.clock);
  const runner = new JobRunner({
    db: jobs,
    queue: TOOLS_QUEUE,
    owner: options.owner,
    concurrency: options.concurrency ?? 4,
    maxAttempts: 3,
    ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
    logger: options.logger,
    run: async (job, signal) => {
      // The tenant's limit is checked beside the run's first reads (see runExecution), not before them.
      const admit = async () =>
        !job.tenantId || !(await overTenantLimit(jobs, job, options.owner, await limitOf(job.tenantId)));
      await runExecution(
        deps,
        job.tenantId ?? '',
        job.payload as ToolJobPayload,
        signal,
        cancels.watch,
        admit,
      );
    },
    giveUp: (job, error) => recordGiveUp(deps, job, error),
  });
  runner.start();
  const listening = wakeOnJobs(options.database, { [TOOLS_QUEUE]: runner }, options.logger, [
    [CANCEL_CHANNEL, cancels.hear],
  ]);
  return {
    current: () => runner.current(),
    stop: async (graceMs) => {
      await (await listening)();
      await runner.stop(graceMs);
    },
  };
}

/** Queues an execution's job (once per execution: its id is the job's) and wakes the tool runners. */
export async function queueExecution(
  db: Kysely<JobTables>,
  input: { executionId: string; tenantId: string; streamId: string; secrets?: Record<string, unknown> },
): Promise<void> {
  const payload: ToolJobPayload = {
    executionId: input.executionId,
    ...(input.secrets && Object.keys(input.secrets).length > 0 ? { secrets: input.secrets } : {}),
  };
  await enqueue(db, [
    {
      id: input.executionId,
      queue: TOOLS_QUEUE,
      kind: 'execute',
      tenantId: input.tenantId,
      subject: input.streamId,
      payload,
    },
  ]);
}

/**
 * Each tenant's `toolConcurrency` (the superadmin's override, else its plan's), cached a minute (a plan
 * or limit change reaches the runners within it).
 */
function planConcurrency(db: Kysely<TenantListTables>, clock: () => Date) {
  const cache = loadingCache<string, { limit: number }>({
    max: 10_000,
    ttlMs: 60_000,
    clock,
    load: async (tenantId) => {
      const row = await db
        .selectFrom('tenant_list')
        .select(['plan', 'limits'])
        .where('id', '=', tenantId)
        .executeTakeFirst();
      const raw = typeof row?.limits === 'string' ? JSON.parse(row.limits) : row?.limits;
      const overrides = LimitOverrides.safeParse(raw ?? {});
      return {
        limit: effectiveLimits(row?.plan ?? 'free', overrides.success ? overrides.data : {}).toolConcurrency,
      };
    },
  });
  return async (tenantId: string) => (await cache.fetch(tenantId))?.limit ?? plans.free.toolConcurrency;
}

/**
 * The tenant's concurrency limit: when more of its tool jobs are claimed (running) than it allows,
 * this one is handed back to the queue for a moment, without counting an attempt, and stays
 * `queued`. Handing back clears its owner, so the runner's completion then deletes nothing.
 */
async function overTenantLimit(
  db: Kysely<JobTables>,
  job: Job,
  owner: string,
  limit: number,
): Promise<boolean> {
  if (!job.tenantId) return false;
  // Claimed before this one (ties by id: one claim gives several jobs the same time). A fixed text:
  // every run asks it once, as a named prepared statement.
  const { rows } = await sql<{ n: string }>`/* prepared:warden_tool_jobs_ahead */
    select count(*) as n from warden_jobs
     where queue = ${TOOLS_QUEUE} and tenant_id = ${job.tenantId}
       and locked_by is not null and locked_until > now()
       and (claimed_at, id) < (select claimed_at, id from warden_jobs where id = ${job.id})`.execute(db);
  if (Number(rows[0]?.n ?? 0) < limit) return false;
  await db
    .updateTable('warden_jobs')
    .set({ locked_by: null, locked_until: null, run_after: sql`now() + interval '250 milliseconds'` })
    .where('id', '=', job.id)
    .where('locked_by', '=', owner)
    .execute();
  return true;
}

/** A job that failed for good (the store or database kept failing): a running execution is recorded failed. */
async function recordGiveUp(deps: ExecutionDeps, job: Job, error: Error): Promise<void> {
  const payload = job.payload as ToolJobPayload;
  if (!job.tenantId) return;
  const found = await findExecution(deps.store, job.tenantId, payload.executionId);
  if (found?.state.status !== 'running') return;
  await changeExecution(
    deps.store,
    job.tenantId,
    payload.executionId,
    {
      type: 'FinishExecution',
      outcome: { status: 'failed', exitCode: null, error: `the run could not be recorded: ${error.message}` },
      outputBytes: found.state.outputBytes,
      truncated: found.state.truncated,
      at: deps.clock().toISOString(),
    },
    { metadata: { tenantId: job.tenantId, actorId: `worker:${deps.worker}` } },
  );
}
