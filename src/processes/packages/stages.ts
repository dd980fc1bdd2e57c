import { handle, load } from '../../commands/kernel/handle.ts';
import {
  loadPolicy,
  type PackageState,
  type PolicySnapshot,
  packageDecider,
  type Stage,
  snapshotOf,
} from '../../commands/packages/index.ts';
import type { EventMetadata, EventStore } from '../../eventstore/port.ts';
import { evaluateLicense, normalizeLicense } from '../../packages/license.ts';
import type { BlobStore } from '../../packages/registry/blobs.ts';
import { RegistryError } from '../../packages/registry/errors.ts';
import type { Publisher } from '../../packages/registry/publish.ts';
import { readManifest } from '../../packages/registry/tarball.ts';
import type { Download, Upstream } from '../../packages/registry/upstream.ts';
import type { Scanner } from '../../packages/scanner.ts';
import type { Job } from '../runtime/jobs/queue.ts';
import type { JobError } from '../runtime/jobs/runner.ts';
import type { PackageJobPayload } from './pipeline.ts';
import { PackageSession, type RecordEvents } from './session.ts';

export interface StageDeps {
  store: EventStore;
  /** How a stage's events are recorded, with the jobs they call for. */
  record: RecordEvents;
  upstream: Upstream;
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
class StageFailure extends Error implements JobError {
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

const checkStatuses: readonly PackageState['status'][] = [
  'received',
  'license_check',
  'downloading',
  'scanning',
];

interface Run {
  deps: StageDeps;
  job: Job;
  session: PackageSession;
  signal: AbortSignal;
}

function metadataOf(job: Job): EventMetadata {
  const payload = job.payload as Partial<PackageJobPayload>;
  return {
    ...(job.tenantId ? { tenantId: job.tenantId } : {}),
    actorId: 'process:packagePipeline',
    ...(payload.correlationId ? { correlationId: payload.correlationId } : {}),
    causationId: job.id,
  };
}

async function start(deps: StageDeps, job: Job, signal: AbortSignal): Promise<Run | undefined> {
  const session = await PackageSession.open(deps, job.subject, metadataOf(job), [job.id, job.attempts]);
  if (!session.state.exists) return undefined;
  return { deps, job, session, signal };
}

/** Downloads (or takes from the blob store when a previous attempt stored it) and checks the tarball. */
async function fetchTarball(run: Run): Promise<Download> {
  const { upstream } = run.deps;
  const { name, version, download, lockfileIntegrity } = run.session.state;
  const expected = download?.integrity ?? lockfileIntegrity ?? undefined;
  return upstream.download(name, version, expected, run.signal);
}

/**
 * Checks a package and downloads it: license (from the lockfile), download with integrity,
 * scan, and the policy's decision. The steps' events are appended together when the checks end
 * (a worker that dies half-way did nothing but download, and the job runs again from the start);
 * a step that fails records the steps before it, so the failure names the stage it hit, and the next
 * attempt resumes there. A package the policy approves at once is published by this same job: the
 * publishing attempt is recorded with the approval, and a worker that dies while uploading leaves
 * the job to be run again, which resumes at the upload (see {@link publishPackage}).
 */
export async function processPackage(deps: StageDeps, job: Job, signal: AbortSignal): Promise<void> {
  const run = await start(deps, job, signal);
  if (!run) return;
  const { session } = run;
  const checking = checkStatuses.includes(session.state.status);
  try {
    await checkPackage(run);
  } catch (error) {
    await session.flush();
    throw error;
  }
  if (checking && session.state.status === 'approved' && deps.publisher) {
    session.decide({ type: 'StartPublishing', at: deps.clock().toISOString() });
  }
  await session.flush();
  if (session.state.status === 'publishing') await upload(run);
}

async function checkPackage(run: Run): Promise<void> {
  const { deps, session } = run;
  const at = () => deps.clock().toISOString();
  let policy: PolicySnapshot | undefined;
  const currentPolicy = async () => {
    policy ??= snapshotOf((await loadPolicy(deps.store, session.state.tenantId)).state);
    return policy;
  };
  if (session.state.status === 'received') session.decide({ type: 'StartProcessing', at: at() });
  if (session.state.status === 'license_check') {
    const { expression } = normalizeLicense(session.state.lockfileLicense);
    const license =
      expression === null
        ? {
            verdict: 'missing' as const,
            reason: 'the lockfile names no license; the tarball’s is checked after download',
          }
        : evaluateLicense(expression, (await currentPolicy()).licenses);
    session.decide({
      type: 'RecordLicense',
      expression,
      verdict: license.verdict,
      reason: license.reason,
      policy: await currentPolicy(),
      at: at(),
    });
  }
  let download: Download | undefined;
  if (session.state.status === 'downloading') {
    try {
      download = await fetchTarball(run);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'integrity_mismatch') {
        session.decide({
          type: 'RejectAutomatically',
          stage: 'download',
          code: 'integrity_mismatch',
          reason: error.message,
          policy: null,
          at: at(),
        });
        return;
      }
      throw error;
    }
    await deps.blobs.put(download.bytes);
    const { expression } = normalizeLicense(download.manifest.license ?? download.manifest.licenses);
    const deprecated = download.registryManifest.deprecated;
    session.decide({
      type: 'RecordDownload',
      integrity: download.integrity,
      shasum: download.shasum,
      size: download.size,
      unpackedSize: download.unpackedSize,
      manifestLicense: expression,
      deprecated: typeof deprecated === 'string' && deprecated.length > 0 ? deprecated.slice(0, 2000) : null,
      at: at(),
    });
  }
  if (session.state.status === 'scanning') {
    // A resumed scan downloads again (the recorded integrity must match): the registry's document
    // is checked against the tarball too, and only a download has it.
    const checked = download ?? (await fetchTarball(run));
    const result = await deps.scanner.scan({
      name: session.state.name,
      version: session.state.version,
      manifest: checked.manifest,
      bindingGyp: checked.bindingGyp,
      registryManifest: checked.registryManifest,
      lockfileLicense: session.state.lockfileLicense,
      deprecated: session.state.download?.deprecated ?? null,
      policy: await currentPolicy(),
    });
    session.decide({
      type: 'RecordScan',
      findings: result.findings,
      advisories: result.advisories,
      unavailable: result.unavailable,
      policy: await currentPolicy(),
      at: at(),
    });
  }
}

/** The stored tarball of a package already downloaded, its bytes checked against the recorded integrity. */
async function storedTarball(run: Run): Promise<Uint8Array> {
  const integrity = run.session.state.download?.integrity;
  const digest = integrity ? sha512Hex(integrity) : undefined;
  const bytes = digest ? await run.deps.blobs.get(digest) : undefined;
  if (bytes) return bytes;
  // Lost from the blob store (or never there): fetch again; the recorded integrity must still match.
  const download = await fetchTarball(run);
  await run.deps.blobs.put(download.bytes);
  return download.bytes;
}

/**
 * Publishes an approved package's original bytes to the target registry, exactly once: the attempt
 * is recorded first, and a target that already holds these bytes (an attempt whose worker died
 * before recording) counts as published; other bytes under the same version are a conflict.
 */
export async function publishPackage(deps: StageDeps, job: Job, signal: AbortSignal): Promise<void> {
  const run = await start(deps, job, signal);
  if (!run) return;
  const { session } = run;
  if (session.state.status === 'approved') {
    session.decide({ type: 'StartPublishing', at: deps.clock().toISOString() });
    await session.flush();
  }
  if (session.state.status === 'publishing') await upload(run);
}

/** The upload of a package whose publishing attempt is recorded, and the record of its outcome. */
async function upload(run: Run): Promise<void> {
  const { deps, session, signal } = run;
  if (!deps.publisher || !deps.targetRegistry) {
    throw Object.assign(
      new StageFailure('no_target', 'no target registry is configured (WARDEN_TARGET_REGISTRY)'),
      {
        retryable: true,
      },
    );
  }
  const publisher = deps.publisher;
  const tarball = await storedTarball(run);
  const integrity = session.state.download?.integrity ?? '';
  const manifest = await readManifest(tarball);
  const outcome = await deps.publishSlot(() =>
    publisher.publish({
      name: session.state.name,
      version: session.state.version,
      manifest,
      tarball,
      integrity,
      signal,
    }),
  );
  session.decide({
    type: 'RecordPublished',
    registry: deps.targetRegistry,
    integrity,
    outcome: outcome.outcome,
    at: deps.clock().toISOString(),
  });
  await session.flush();
}

const stageOf = (state: PackageState, kind: string): Stage => {
  if (kind === 'publish') return 'publish';
  switch (state.status) {
    case 'approved':
    case 'publishing':
      return 'publish';
    case 'license_check':
      return 'license';
    case 'downloading':
      return 'download';
    default:
      return 'scan';
  }
};

/** A job that failed for good: the package is `failed` with the stage, reason and whether a retry may help. */
export async function recordFailure(
  deps: StageDeps,
  job: Job,
  error: JobError,
  attempts: number,
): Promise<void> {
  const loaded = await load(deps.store, job.subject, packageDecider);
  if (!loaded.state.exists) return;
  const code =
    error instanceof RegistryError || error instanceof StageFailure ? error.code : 'internal_error';
  await handle(
    deps.store,
    job.subject,
    packageDecider,
    {
      type: 'Fail',
      stage: stageOf(loaded.state, job.kind),
      code,
      reason: error.message.slice(0, 2000),
      retryable: error.retryable === true,
      attempts,
      at: deps.clock().toISOString(),
    },
    { metadata: metadataOf(job) },
  );
}
