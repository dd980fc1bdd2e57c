import { handle, load } from '../../commands/kernel/index.ts';
import {
  loadPolicy,
  type PackageState,
  type PolicySnapshot,
  packageDecider,
  type Stage,
  snapshotOf,
} from '../../commands/packages/index.ts';
import type { Download } from '../../packages/index.ts';
import { bundledSpecs, evaluateLicense, normalizeLicense, RegistryError } from '../../packages/index.ts';
import type { Job, JobError } from '../runtime/index.ts';
import { upload } from './publish-stage.ts';
import { fetchTarball, metadataOf, type Run, type StageDeps, StageFailure, start } from './stage-run.ts';

export { publishPackage } from './publish-stage.ts';
export type { StageDeps } from './stage-run.ts';

const checkStatuses: readonly PackageState['status'][] = [
  'received',
  'license_check',
  'downloading',
  'scanning',
];

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
      bundled: checked.bundled,
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
      // Kept with the scan, so that advisories imported later reach them too (the advisory monitor).
      bundled: bundledSpecs(checked.bundled),
      policy: await currentPolicy(),
      at: at(),
    });
  }
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
