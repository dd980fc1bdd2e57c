import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { type AdvisoryTables, advisoryFindings } from '../../packages/advisories.ts';
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
import { enqueue, JOBS_CHANNEL, type JobTables, jobNotice } from '../runtime/jobs/queue.ts';
import { JobRunner } from '../runtime/jobs/runner.ts';
import type { ProcessLogger } from '../runtime/process-manager.ts';
import { type CancelWatch, runExecution, type ToolJobPayload } from './run-execution.ts';

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
  clock?: () => Date;
  leaseMs?: number;
  pollMs?: number;
  outputCapBytes?: number;
  cancelPollMs?: number;
}): ToolJobs {
  const db = options.database.db;
  const cancels = new Map<string, Set<() => void>>();
  const watchCancel: CancelWatch = (executionId, onCancel) => {
    const set = cancels.get(executionId) ?? new Set();
    set.add(onCancel);
    cancels.set(executionId, set);
    return () => {
      set.delete(onCancel);
      if (set.size === 0) cancels.delete(executionId);
    };
  };
  const deps = {
    store: options.store,
    db: db as unknown as Kysely<ToolOutputTables>,
    catalog: options.catalog ?? defaultCatalog(),
    processes: options.processes ?? processRunner(),
    advisories: advisoryLookup(db as unknown as Kysely<AdvisoryTables>),
    ...(options.resolve ? { resolve: options.resolve } : {}),
    clock: options.clock ?? (() => new Date()),
    logger: options.logger,
    worker: options.owner,
    ...(options.outputCapBytes ? { outputCapBytes: options.outputCapBytes } : {}),
    ...(options.cancelPollMs ? { cancelPollMs: options.cancelPollMs } : {}),
  };
  const runner = new JobRunner({
    db: db as unknown as Kysely<JobTables>,
    queue: TOOLS_QUEUE,
    owner: options.owner,
    concurrency: options.concurrency ?? 4,
    maxAttempts: 3,
    ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
    logger: options.logger,
    run: (job, signal) =>
      runExecution(deps, job.tenantId ?? '', job.payload as ToolJobPayload, signal, watchCancel),
    giveUp: async () => undefined,
  });
  runner.start();
  const schema = options.database.schema;
  const notice = jobNotice(schema, TOOLS_QUEUE);
  const listening = Promise.all([
    options.database.listen(JOBS_CHANNEL, (payload) => {
      if (payload === notice) runner.wake();
    }),
    options.database.listen(CANCEL_CHANNEL, (payload) => {
      const [s, id] = payload.split(':');
      if (s === schema && id) for (const cancel of cancels.get(id) ?? []) cancel();
    }),
  ]).catch((error: unknown) => {
    options.logger.warn({ err: error }, 'listening for tool jobs failed; polling only');
    return [] as (() => Promise<void>)[];
  });
  return {
    current: () => runner.current(),
    stop: async (graceMs) => {
      for (const stop of await listening) await stop();
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
