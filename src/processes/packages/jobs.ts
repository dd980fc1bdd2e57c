import type { Kysely } from 'kysely';
import PQueue from 'p-queue';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import type { Tables } from '../../db/tables.ts';
import {
  type EventStore,
  RetryWithSavepointsError,
  type TransactionBinding,
  typesOf,
} from '../../eventstore/port.ts';
import type { AdvisoryTables } from '../../packages/index.ts';
import {
  type BlobTables,
  blobStore,
  cachedBlobStore,
  combinedScanner,
  createPublisher,
  createUpstream,
  manifestScanner,
  osvScanner,
} from '../../packages/index.ts';
import type { ProcessLogger } from '../runtime/index.ts';
import { enqueue, JobRunner, type JobTables, jobQueueOf, viewAs, wakeOnJobs } from '../runtime/index.ts';
import { PACKAGE_QUEUES, type PackageJobKind } from './pipeline.ts';
import type { RecordEvents } from './session.ts';
import { processPackage, publishPackage, recordFailure, type StageDeps } from './stages.ts';

export type PackageJobsConfig = Pick<
  Config,
  | 'WARDEN_UPSTREAM_REGISTRY'
  | 'WARDEN_UPSTREAM_TOKEN'
  | 'WARDEN_TARGET_REGISTRY'
  | 'WARDEN_TARGET_REGISTRY_TOKEN'
  | 'WARDEN_REGISTRY_TIMEOUT_MS'
  | 'WARDEN_MAX_TARBALL_BYTES'
  | 'WARDEN_MAX_UNPACKED_BYTES'
  | 'WARDEN_PACKAGE_CONCURRENCY'
  | 'WARDEN_PUBLISH_CONCURRENCY'
  | 'WARDEN_PACKAGE_MAX_ATTEMPTS'
>;

/** A registry address as events and logs show it: no credentials, no query. */
export function displayRegistry(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  return parsed.toString();
}

/**
 * Records a stage's events. With the event store in this very database, events that call for a job
 * (an auto-approval: publishing) commit in one transaction with it, so the job is there the moment
 * the approval is, without waiting for the process manager to see the event. The first attempt runs
 * without savepoints; a conflict or a repeated append kills that transaction, and the second attempt
 * runs with them and answers the way the store does (conflict, or the original append).
 */
function recorder(
  database: Database,
  store: EventStore,
  storeIn: TransactionBinding<Kysely<Tables>> | undefined,
): RecordEvents {
  if (!storeIn) return (streamId, events, expected) => store.append(streamId, events, { expected });
  const inTransaction = async (careful: boolean, ...args: Parameters<RecordEvents>) => {
    const [streamId, events, expected, jobs] = args;
    const result = await database.background.transaction().execute(async (trx) => {
      const appended = await storeIn(trx, careful).append(streamId, events, { expected });
      await enqueue(viewAs<JobTables>(trx), jobs);
      return appended;
    });
    storeIn.committed?.(typesOf(events), result.position);
    return result;
  };
  return async (...args) => {
    const [streamId, events, expected, jobs] = args;
    // Nothing to queue: a plain append, which also wakes this process's subscriptions at once.
    if (jobs.length === 0) return store.append(streamId, events, { expected });
    try {
      return await inTransaction(false, ...args);
    } catch (error) {
      if (!(error instanceof RetryWithSavepointsError)) throw error;
      return inTransaction(true, ...args);
    }
  };
}

/** The dependencies of the package stages, built from the configuration. */
export function stageDeps(
  config: PackageJobsConfig,
  deps: {
    database: Database;
    store: EventStore;
    /** The store bound to a transaction (events in this database): stage events commit with their jobs. */
    storeIn?: TransactionBinding<Kysely<Tables>> | undefined;
    clock?: () => Date;
  },
): StageDeps {
  const db = viewAs<AdvisoryTables>(deps.database.background);
  return {
    store: deps.store,
    record: recorder(deps.database, deps.store, deps.storeIn),
    upstream: config.WARDEN_UPSTREAM_REGISTRY
      ? createUpstream({
          url: config.WARDEN_UPSTREAM_REGISTRY,
          ...(config.WARDEN_UPSTREAM_TOKEN ? { token: config.WARDEN_UPSTREAM_TOKEN } : {}),
          timeoutMs: config.WARDEN_REGISTRY_TIMEOUT_MS,
          maxTarballBytes: config.WARDEN_MAX_TARBALL_BYTES,
          maxUnpackedBytes: config.WARDEN_MAX_UNPACKED_BYTES,
        })
      : undefined,
    publisher:
      config.WARDEN_TARGET_REGISTRY && config.WARDEN_TARGET_REGISTRY_TOKEN
        ? createPublisher({
            url: config.WARDEN_TARGET_REGISTRY,
            token: config.WARDEN_TARGET_REGISTRY_TOKEN,
            timeoutMs: config.WARDEN_REGISTRY_TIMEOUT_MS,
          })
        : undefined,
    targetRegistry: config.WARDEN_TARGET_REGISTRY
      ? displayRegistry(config.WARDEN_TARGET_REGISTRY)
      : undefined,
    // Publishing follows the checks within seconds: their tarballs are still in memory then.
    blobs: cachedBlobStore(blobStore(viewAs<BlobTables>(deps.database.background)), 16 * 1024 * 1024),
    scanner: combinedScanner([osvScanner(db), manifestScanner()]),
    clock: deps.clock ?? (() => new Date()),
    publishSlot: (
      (slots) => (upload) =>
        slots.add(upload, { throwOnTimeout: true })
    )(new PQueue({ concurrency: config.WARDEN_PUBLISH_CONCURRENCY })),
  };
}

/** The package job runners of this worker (checks, and publishing), stopped together. */
export interface PackageJobs {
  /** What runs here now, per queue. */
  current(): ReturnType<JobRunner['current']>;
  stop(graceMs?: number): Promise<void>;
}

/** Starts the package job runners of this worker: checks and downloads, and publishing, outside transactions. */
export function startPackageJobs(options: {
  config: PackageJobsConfig;
  database: Database;
  store: EventStore;
  storeIn?: TransactionBinding<Kysely<Tables>> | undefined;
  owner: string;
  logger: ProcessLogger;
  clock?: () => Date;
  pollMs?: number;
  backoffMs?: (attempts: number) => number;
}): PackageJobs {
  const deps = stageDeps(options.config, options);
  const runner = (kind: PackageJobKind, concurrency: number) => {
    const jobs = new JobRunner({
      db: jobQueueOf(options.database),
      queue: PACKAGE_QUEUES[kind],
      owner: options.owner,
      concurrency,
      maxAttempts: options.config.WARDEN_PACKAGE_MAX_ATTEMPTS,
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
      ...(options.backoffMs ? { backoffMs: options.backoffMs } : {}),
      logger: options.logger,
      run: (job, signal) =>
        kind === 'publish' ? publishPackage(deps, job, signal) : processPackage(deps, job, signal),
      giveUp: (job, error, attempts) => recordFailure(deps, job, error, attempts),
    });
    jobs.start();
    return jobs;
  };
  const runners = {
    [PACKAGE_QUEUES.process]: runner('process', options.config.WARDEN_PACKAGE_CONCURRENCY),
    [PACKAGE_QUEUES.publish]: runner('publish', options.config.WARDEN_PUBLISH_CONCURRENCY),
  };
  // Jobs queued by any worker on this database wake the runner of their queue at once.
  const listening = wakeOnJobs(options.database, runners, options.logger);
  return {
    current: () => Object.values(runners).flatMap((r) => r.current()),
    stop: async (graceMs) => {
      await (await listening)();
      await Promise.all(Object.values(runners).map((r) => r.stop(graceMs)));
    },
  };
}
