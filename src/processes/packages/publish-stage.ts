import { readManifest } from '../../packages/index.ts';
import type { Job } from '../runtime/index.ts';
import { type Run, type StageDeps, StageFailure, start, storedTarball } from './stage-run.ts';

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
export async function upload(run: Run): Promise<void> {
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
