import type { EventMetadata, EventStore } from '../../eventstore/port.ts';
import type { BlobStore, Download, Publisher, Scanner, Upstream } from '../../packages/index.ts';
import type { Job, JobError } from '../runtime/index.ts';
import type { PackageJobPayload } from './pipeline.ts';
import { PackageSession, type RecordEvents } from './session.ts';

/* One run of a package job: its dependencies, its session on the package, and the tarball it works on. */

export interface StageDeps {
  store: EventStore;
  /** How a stage's events are recorded, with the jobs they call for. */
  record: RecordEvents;
  /** Where packages are downloaded from (absent: no WARDEN_UPSTREAM_REGISTRY, so packages wait). */
  upstream: Upstream | undefined;
  /** Absent when no target registry is configured: approved packages then wait, failed (retryable). */
  publisher: Publisher | undefined;
  /** The target registry's address as events show it (no credentials). */
  targetRegistry: string | undefined;
  blobs: BlobStore;
  scanner: Scanner;
  clock: () => Date;
  /**
   * Runs one upload to the target registry when a publishing slot of this worker is free
   * (`WARDEN_PUBLISH_CONCURRENCY` at once, whichever job publishes).
   */
  publishSlot: <T>(upload: () => Promise<T>) => Promise<T>;
}

/** A failure that ends a stage for good (not retried by the job runner). */
export class StageFailure extends Error implements JobError {
  readonly retryable = false;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const sha512Hex = (integrity: string): string | undefined => {
  const match = /^sha512-([A-Za-z0-9+/=]+)$/.exec(
    integrity.split(/\s+/).find((i) => i.startsWith('sha512-')) ?? '',
  );
  if (!match) return undefined;
  return [...atob(match[1]!)].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
};

export interface Run {
  deps: StageDeps;
  job: Job;
  session: PackageSession;
  signal: AbortSignal;
}

export function metadataOf(job: Job): EventMetadata {
  const payload = job.payload as Partial<PackageJobPayload>;
  return {
    ...(job.tenantId ? { tenantId: job.tenantId } : {}),
    actorId: 'process:packagePipeline',
    ...(payload.correlationId ? { correlationId: payload.correlationId } : {}),
    causationId: job.id,
  };
}

/** Opens the package's session for a job; undefined when the package does not exist. */
export async function start(deps: StageDeps, job: Job, signal: AbortSignal): Promise<Run | undefined> {
  const session = await PackageSession.open(deps, job.subject, metadataOf(job), [job.id, job.attempts]);
  if (!session.state.exists) return undefined;
  return { deps, job, session, signal };
}

/** Downloads (or takes from the blob store when a previous attempt stored it) and checks the tarball. */
export async function fetchTarball(run: Run): Promise<Download> {
  const { upstream } = run.deps;
  if (!upstream) {
    // Retried until the upstream is configured: nothing is downloaded from a default host.
    throw Object.assign(
      new StageFailure('no_upstream', 'no upstream registry is configured (set WARDEN_UPSTREAM_REGISTRY)'),
      { retryable: true },
    );
  }
  const { name, version, download, lockfileIntegrity } = run.session.state;
  const expected = download?.integrity ?? lockfileIntegrity ?? undefined;
  return upstream.download(name, version, expected, run.signal);
}

/** The stored tarball of a package already downloaded, its bytes checked against the recorded integrity. */
export async function storedTarball(run: Run): Promise<Uint8Array> {
  const integrity = run.session.state.download?.integrity;
  const digest = integrity ? sha512Hex(integrity) : undefined;
  const bytes = digest ? await run.deps.blobs.get(digest) : undefined;
  if (bytes) return bytes;
  // Lost from the blob store (or never there): fetch again; the recorded integrity must still match.
  const download = await fetchTarball(run);
  await run.deps.blobs.put(download.bytes);
  return download.bytes;
}
