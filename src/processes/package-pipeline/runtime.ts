import type { Kysely } from 'kysely';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { AdvisoryTables } from '../../packages/advisories.ts';
import { blobStore } from '../../packages/registry/blobs.ts';
import { createPublisher } from '../../packages/registry/publish.ts';
import { createUpstream } from '../../packages/registry/upstream.ts';
import { combinedScanner, manifestScanner, osvScanner } from '../../packages/scanner.ts';
import type { JobTables } from '../jobs/queue.ts';
import { JobRunner } from '../jobs/runner.ts';
import type { ProcessLogger } from '../process-manager.ts';
import { PACKAGE_QUEUES, type PackageJobKind } from './process.ts';
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

/** The dependencies of the package stages, built from the configuration. */
export function stageDeps(
  config: PackageJobsConfig,
  deps: { database: Database; store: EventStore; clock?: () => Date },
): StageDeps {
  const db = deps.database.db as unknown as Kysely<AdvisoryTables>;
  return {
    store: deps.store,
    upstream: createUpstream({
      url: config.WARDEN_UPSTREAM_REGISTRY,
      ...(config.WARDEN_UPSTREAM_TOKEN ? { token: config.WARDEN_UPSTREAM_TOKEN } : {}),
      timeoutMs: config.WARDEN_REGISTRY_TIMEOUT_MS,
      maxTarballBytes: config.WARDEN_MAX_TARBALL_BYTES,
      maxUnpackedBytes: config.WARDEN_MAX_UNPACKED_BYTES,
    }),
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
    blobs: blobStore(deps.database.db as never),
    scanner: combinedScanner([osvScanner(db), manifestScanner()]),
    clock: deps.clock ?? (() => new Date()),
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
  owner: string;
  logger: ProcessLogger;
  clock?: () => Date;
  pollMs?: number;
  backoffMs?: (attempts: number) => number;
}): PackageJobs {
  const deps = stageDeps(options.config, options);
  const runner = (kind: PackageJobKind, concurrency: number) => {
    const jobs = new JobRunner({
      db: options.database.db as unknown as Kysely<JobTables>,
      queue: PACKAGE_QUEUES[kind],
      owner: options.owner,
      concurrency,
      maxAttempts: options.config.WARDEN_PACKAGE_MAX_ATTEMPTS,
      pollMs: options.pollMs ?? 250,
      ...(options.backoffMs ? { backoffMs: options.backoffMs } : {}),
      logger: options.logger,
      run: (job, signal) =>
        kind === 'publish' ? publishPackage(deps, job, signal) : processPackage(deps, job, signal),
      giveUp: (job, error, attempts) => recordFailure(deps, job, error, attempts),
    });
    jobs.start();
    return jobs;
  };
  const runners = [
    runner('process', options.config.WARDEN_PACKAGE_CONCURRENCY),
    runner('publish', options.config.WARDEN_PUBLISH_CONCURRENCY),
  ];
  return {
    current: () => runners.flatMap((r) => r.current()),
    stop: async (graceMs) => {
      await Promise.all(runners.map((r) => r.stop(graceMs)));
    },
  };
}
