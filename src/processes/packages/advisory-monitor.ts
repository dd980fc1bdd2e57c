import { handle } from '../../commands/kernel/index.ts';
import { type AdvisoryFeedEvent, packageDecider, packageStreamId } from '../../commands/packages/index.ts';
import { type AdvisoryTables, advisoryFindings, namesChangedBy } from '../../packages/index.ts';
import type { PackageListTables } from '../../projections/packages/index.ts';
import { defineProcessManager, viewAs } from '../runtime/index.ts';

/** Packages already let in (or about to be) that new advisory data must reach. */
const WATCHED = ['awaiting_approval', 'approved', 'publishing', 'published'];

/**
 * Continuous monitoring: when advisory data is imported, every package already approved or
 * published (in any tenant) that a new or changed advisory affects gets a `FindingDiscovered`, which
 * flags it for the tenant's approvers. The gate is not the only check.
 */
export const advisoryMonitor = defineProcessManager<PackageListTables & AdvisoryTables, AdvisoryFeedEvent>({
  name: 'advisoryMonitor',
  types: ['AdvisoriesImported'],
  async handle(event, ctx) {
    const { importId, at } = event.data;
    const db = ctx.db;
    const advisories = viewAs<AdvisoryTables>(ctx.db);
    const names = await namesChangedBy(advisories, importId);
    for (let i = 0; i < names.length; i += 500) {
      const rows = await db
        .selectFrom('package_list')
        .select(['id', 'tenant_id', 'name', 'version'])
        .where('name', 'in', names.slice(i, i + 500))
        .where('status', 'in', WATCHED)
        .orderBy('id')
        .execute();
      for (const row of rows) {
        const findings = await advisoryFindings(advisories, row.name, row.version, { importId });
        for (const finding of findings) {
          // The feed belongs to no tenant; the finding belongs to the package's.
          const streamId = packageStreamId(row.id);
          await handle(
            ctx.store,
            streamId,
            packageDecider,
            { type: 'RecordFinding', finding, advisories: importId, at },
            {
              metadata: { ...ctx.metadata, tenantId: row.tenant_id },
              commandId: await ctx.id('issue', streamId, finding.id),
            },
          );
        }
      }
    }
  },
});
