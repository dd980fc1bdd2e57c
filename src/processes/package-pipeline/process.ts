import {
  type PackagesEvent,
  packageDecider,
  packageIdFor,
  packageStreamId,
} from '../../commands/packages/index.ts';
import type { RecordedEvent } from '../../eventstore/port.ts';
import { enqueue, type JobTables } from '../jobs/queue.ts';
import { defineProcessManager, type ProcessContext } from '../process-manager.ts';

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

type Ctx = ProcessContext<JobTables>;

async function queue(
  ctx: Ctx,
  kind: PackageJobKind,
  data: { packageId: string; tenantId: string; spec: string },
) {
  const payload: PackageJobPayload = { spec: data.spec, correlationId: ctx.metadata.correlationId ?? '' };
  await enqueue(ctx.db, [
    {
      id: await ctx.id('job', kind),
      queue: PACKAGE_QUEUES[kind],
      kind,
      tenantId: data.tenantId,
      subject: packageStreamId(data.packageId),
      payload,
    },
  ]);
}

/**
 * Drives the package firewall: a submitted lockfile becomes one package aggregate per
 * `name@version` (processed once per tenant: one already known is not processed again), and each
 * package that needs work gets a job — checks and download, or publishing — which the package job
 * runner executes outside any transaction. Jobs are queued in the handling transaction with ids
 * derived from the event, so a replay queues nothing twice.
 */
export const packagePipeline = defineProcessManager<JobTables>({
  name: 'packagePipeline',
  types: [
    'PackageRequestSubmitted',
    'PackageReceived',
    'PackageRetried',
    'PackageApproved',
    'PackageAutoApproved',
  ],
  async handle(recorded: RecordedEvent, ctx) {
    const event = recorded as unknown as RecordedEvent & PackagesEvent;
    switch (event.type) {
      case 'PackageRequestSubmitted': {
        const { tenantId, requestId, at } = event.data;
        for (const entry of event.data.packages) {
          // Bundled packages arrive inside their parent's tarball: npm never fetches them alone.
          if (entry.bundled) continue;
          const packageId = await packageIdFor(tenantId, entry.spec);
          await ctx.issue(
            packageStreamId(packageId),
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
            { key: entry.spec },
          );
        }
        return;
      }
      case 'PackageReceived':
        await queue(ctx, 'process', event.data);
        return;
      case 'PackageRetried':
        await queue(ctx, event.data.resume === 'approved' ? 'publish' : 'process', event.data);
        return;
      case 'PackageApproved':
      case 'PackageAutoApproved':
        await queue(ctx, 'publish', event.data);
        return;
      default:
        return;
    }
  },
});
