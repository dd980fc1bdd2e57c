import { deriveId, handleNew, load } from '../../commands/kernel/index.ts';
import {
  type PackageState,
  type PackagesEvent,
  packageDecider,
  packageIdFor,
  packageStreamId,
} from '../../commands/packages/index.ts';
import { type PackageListTables, rejectedSpecs } from '../../projections/packages/index.ts';
import {
  defineProcessManager,
  enqueue,
  type JobTables,
  type NewJob,
  type ProcessContext,
  viewAs,
} from '../runtime/index.ts';

export type PackageJobKind = 'process' | 'publish';
/**
 * Checks and publishing have queues of their own: publishing (which a registry may take one at a time)
 * starts with the first approved package instead of waiting behind every other package's checks.
 */
export const PACKAGE_QUEUES: Readonly<Record<PackageJobKind, string>> = {
  process: 'packages',
  publish: 'packages-publish',
};

/** What a package job carries besides its subject (the package's stream id). */
export interface PackageJobPayload {
  spec: string;
  correlationId: string;
}

const PROCESS_NAME = 'packagePipeline';

/**
 * The job a package event calls for: checks after `PackageReceived`, publishing after an approval,
 * either after a retry. Its id derives from the event's (as `ctx.id('job', kind)` would), so whoever
 * queues it — the writer that recorded the event, in the same transaction, or this process manager
 * on seeing the event — queues the same job, once.
 */
export async function jobFor(
  event: { id: string; type: string; data: unknown },
  correlationId: string,
): Promise<NewJob | undefined> {
  const kind = jobKindOf(event);
  if (!kind) return undefined;
  const data = event.data as { packageId: string; tenantId: string; spec: string };
  const payload: PackageJobPayload = { spec: data.spec, correlationId };
  return {
    id: await deriveId(PROCESS_NAME, event.id, 'job', kind),
    queue: PACKAGE_QUEUES[kind],
    kind,
    tenantId: data.tenantId,
    subject: packageStreamId(data.packageId),
    payload,
  };
}

function jobKindOf(event: { type: string; data: unknown }): PackageJobKind | undefined {
  switch (event.type) {
    case 'PackageReceived':
      return 'process';
    case 'PackageRetried':
      return (event.data as { resume?: string }).resume === 'approved' ? 'publish' : 'process';
    case 'PackageApproved':
    case 'PackageAutoApproved':
      return 'publish';
    default:
      return undefined;
  }
}

/** The status a package still has while the job an event called for has not run (it may be queued). */
const waitingStatus: Partial<Record<string, PackageState['status']>> = {
  PackageReceived: 'received',
  PackageApproved: 'approved',
  PackageAutoApproved: 'approved',
};

/**
 * Known packages of a request that were rejected because their bytes were not what an earlier
 * lockfile said are checked again against this request's integrity (`RetryWithIntegrity` decides;
 * the retry's job is queued when this process manager sees its `PackageRetried`). Which of them are
 * rejected is asked of the package list in one query (`rejectedSpecs`), not of each package's stream: a lockfile of a
 * thousand known packages costs one read, not a thousand. A package rejected a moment ago and not yet
 * in the list is left rejected (fails closed; the next request retries it).
 */
async function retryRejectedIntegrity(
  ctx: Pick<ProcessContext<JobTables>, 'db' | 'issue'>,
  tenantId: string,
  known: readonly { spec: string; streamId: string; integrity: string }[],
  by: string,
  at: string,
): Promise<void> {
  const specs = await rejectedSpecs(
    viewAs<PackageListTables>(ctx.db),
    tenantId,
    known.map((entry) => entry.spec),
  );
  for (const entry of known) {
    if (!specs.has(entry.spec)) continue;
    await ctx.issue(entry.streamId, packageDecider, {
      type: 'RetryWithIntegrity',
      integrity: entry.integrity,
      by,
      at,
    });
  }
}

/**
 * Drives the package firewall: a submitted lockfile becomes one package aggregate per
 * `name@version` (processed once per tenant: one already known is not processed again), and each
 * package that needs work gets a job — checks and download, or publishing — which the package job
 * runner executes outside any transaction. The checks of newly received packages are queued in the
 * very transaction that records them, and the job runner queues the publishing of the packages it
 * auto-approves with their approval (see {@link jobFor}); this process manager queues what nobody
 * queued yet — a manual approval, a retry, or what an event store in another database could not
 * record together with its jobs. Ids derive from the events, so a replay queues nothing twice.
 */
export const packagePipeline = defineProcessManager<JobTables, PackagesEvent>({
  name: PROCESS_NAME,
  types: [
    'PackageRequestSubmitted',
    'PackageReceived',
    'PackageRetried',
    'PackageApproved',
    'PackageAutoApproved',
  ],
  async handle(event, ctx) {
    const correlationId = ctx.metadata.correlationId ?? '';
    if (event.type === 'PackageRequestSubmitted') {
      const { tenantId, requestId, at, by } = event.data;
      const jobs: NewJob[] = [];
      const known: { spec: string; streamId: string; integrity: string }[] = [];
      for (const entry of event.data.packages) {
        // Bundled packages arrive inside their parent's tarball: npm never fetches them alone.
        if (entry.bundled) continue;
        const packageId = await packageIdFor(tenantId, entry.spec);
        const streamId = packageStreamId(packageId);
        // A package is received once: decided on a stream that does not exist yet, appended only
        // if it still does not (one round trip; a package known already is a conflict, skipped).
        const id = await ctx.id('receive', entry.spec);
        const created = await handleNew(
          ctx.store,
          streamId,
          packageDecider,
          {
            type: 'ReceivePackage',
            packageId,
            tenantId,
            name: entry.name,
            version: entry.version,
            integrity: entry.integrity,
            lockfileLicense: entry.license,
            requestId,
            at,
          },
          { metadata: ctx.metadata, eventIds: [id] },
        );
        const received = created?.events[0];
        if (!received) {
          if (entry.integrity) known.push({ spec: entry.spec, streamId, integrity: entry.integrity });
          continue;
        }
        const job = await jobFor({ ...received, id }, correlationId);
        if (job) jobs.push(job);
      }
      await enqueue(ctx.db, jobs);
      await retryRejectedIntegrity(ctx, tenantId, known, by, at);
      return;
    }
    const job = await jobFor(event, correlationId);
    if (!job) return;
    const waiting = waitingStatus[event.type];
    if (waiting) {
      // Queued already by whoever recorded the event, and perhaps run: then the package moved on.
      const { state } = await load(ctx.store, job.subject, packageDecider);
      if (state.status !== waiting) return;
    }
    await enqueue(ctx.db, [job]);
  },
});
