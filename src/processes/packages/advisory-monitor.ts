import { handle } from '../../commands/kernel/index.ts';
import {
  type AdvisoryFeedEvent,
  type BundledSpec,
  type Finding,
  packageDecider,
  packageStreamId,
} from '../../commands/packages/index.ts';
import {
  type AdvisoryTables,
  advisoryFindings,
  bundledFinding,
  namesChangedBy,
} from '../../packages/index.ts';
import type { PackageListTables } from '../../projections/packages/index.ts';
import { defineProcessManager, viewAs } from '../runtime/index.ts';

/** Packages already let in (or about to be) that new advisory data must reach. */
const WATCHED = ['awaiting_approval', 'approved', 'publishing', 'published'];

/**
 * Continuous monitoring: when advisory data is imported, every package already approved or
 * published (in any tenant) that a new or changed advisory affects gets a `FindingDiscovered`, which
 * flags it for the tenant's approvers. The gate is not the only check. An advisory about a package
 * bundled inside one (as its scan recorded it) affects that one too, with the finding id the scan
 * would give it (`<advisory>:bundled:<name>@<version>`): the package decider records a finding id
 * once, so what a scan found already is not discovered again.
 */
export const advisoryMonitor = defineProcessManager<PackageListTables & AdvisoryTables, AdvisoryFeedEvent>({
  name: 'advisoryMonitor',
  types: ['AdvisoriesImported'],
  async handle(event, ctx) {
    const { importId, at } = event.data;
    const db = ctx.db;
    const advisories = viewAs<AdvisoryTables>(ctx.db);
    const record = async (row: { id: string; tenant_id: string }, finding: Finding) => {
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
    };
    // Many packages bundle the same version of a package: its advisories are read once per import.
    const bundledFindings = new Map<string, Finding[]>();
    const findingsOf = async (bundled: BundledSpec) => {
      const key = `${bundled.name}@${bundled.version}`;
      let found = bundledFindings.get(key);
      if (!found) {
        found = (await advisoryFindings(advisories, bundled.name, bundled.version, { importId })).map((f) =>
          bundledFinding(f, bundled),
        );
        bundledFindings.set(key, found);
      }
      return found;
    };
    const names = await namesChangedBy(advisories, importId);
    for (let i = 0; i < names.length; i += 500) {
      const chunk = names.slice(i, i + 500);
      const rows = await db
        .selectFrom('package_list')
        .select(['id', 'tenant_id', 'name', 'version'])
        .where('name', 'in', chunk)
        .where('status', 'in', WATCHED)
        .orderBy('id')
        .execute();
      for (const row of rows) {
        for (const finding of await advisoryFindings(advisories, row.name, row.version, { importId })) {
          await record(row, finding);
        }
      }
      const bundling = await db
        .selectFrom('package_bundled as b')
        .innerJoin('package_list as p', (j) =>
          j.onRef('p.id', '=', 'b.package_id').onRef('p.tenant_id', '=', 'b.tenant_id'),
        )
        .select(['p.id', 'p.tenant_id', 'b.name', 'b.version'])
        .where('b.name', 'in', chunk)
        .where('p.status', 'in', WATCHED)
        .orderBy('p.id')
        .orderBy('b.name')
        .orderBy('b.version')
        .execute();
      for (const row of bundling) {
        for (const finding of await findingsOf(row)) await record(row, finding);
      }
    }
  },
});
