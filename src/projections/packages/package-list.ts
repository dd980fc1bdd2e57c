import { type Kysely, sql } from 'kysely';
import { type BundledSpec, type PackageEvent, packageEventTypes } from '../../commands/packages/index.ts';
import { defineProjection, type Recorded } from '../engine/index.ts';
import {
  type Changes,
  type Current,
  changesOf,
  type PackageListTables,
  receivedRow,
} from './package-rows.ts';

export type { PackageListTable, PackageListTables } from './package-rows.ts';

type Received = Extract<PackageEvent, { type: 'PackageReceived' }>;

/**
 * One row per package and tenant: lists, filters, search, approvals and stats read it. Beside it,
 * the packages each one bundles (as its latest scan recorded them), which advisory monitoring reads.
 */
export const packageList = defineProjection<PackageEvent, PackageListTables>()({
  name: 'packageList',
  version: 2,
  types: packageEventTypes,
  tables: ['package_list', 'package_bundled'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('package_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('license', 'text')
      .addColumn('lockfile_license', 'text')
      .addColumn('integrity', 'text')
      .addColumn('size', 'integer')
      .addColumn('findings', 'jsonb', (c) => c.notNull())
      .addColumn('findings_count', 'integer', (c) => c.notNull())
      .addColumn('max_severity', 'text')
      .addColumn('reasons', sql`text[]`, (c) => c.notNull())
      .addColumn('warnings', sql`text[]`, (c) => c.notNull())
      .addColumn('waivers', 'jsonb', (c) => c.notNull())
      .addColumn('attention', 'boolean', (c) => c.notNull())
      .addColumn('decided_by', 'text')
      .addColumn('reason', 'text')
      .addColumn('policy_version', 'integer')
      .addColumn('failure', 'jsonb')
      .addColumn('request_id', 'uuid', (c) => c.notNull())
      .addColumn('received_at', 'timestamptz', (c) => c.notNull())
      .addColumn('processing_at', 'timestamptz')
      .addColumn('downloaded_at', 'timestamptz')
      .addColumn('scanned_at', 'timestamptz')
      .addColumn('decided_at', 'timestamptz')
      .addColumn('published_at', 'timestamptz')
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('package_list_tenant_spec')
      .on('package_list')
      .columns(['tenant_id', 'spec'])
      .unique()
      .execute();
    await db.schema
      .createTable('package_bundled')
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('package_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('package_bundled_pk', ['package_id', 'name', 'version'])
      .execute();
  },
  async createIndexes(db: Kysely<unknown>) {
    await db.schema
      .createIndex('package_list_tenant_status')
      .on('package_list')
      .columns(['tenant_id', 'status', 'received_at', 'id'])
      .execute();
    await db.schema
      .createIndex('package_list_tenant_received')
      .on('package_list')
      .columns(['tenant_id', 'received_at', 'id'])
      .execute();
    // The advisory monitor's look-up: which packages bundle a name an import changed.
    await db.schema
      .createIndex('package_bundled_name')
      .on('package_bundled')
      .columns(['name', 'version'])
      .execute();
  },
  apply: (event, db) => applyAll([event], db),
  applyBatch: applyAll,
  // Every event names its package, and folds into that package's row and bundled rows alone.
  entityOf: (event) => event.data.packageId,
});

/**
 * Folds events into rows, set-based: new packages in one insert, then every other event folded in
 * memory onto its package's row (read once), and one update per package. A package's check events
 * come in one append, so a batch typically turns six updates of a row into one.
 */
async function applyAll(
  events: readonly Recorded<PackageEvent>[],
  db: Kysely<PackageListTables>,
): Promise<void> {
  const received = events.filter((e): e is Recorded<Received> => e.type === 'PackageReceived');
  for (let i = 0; i < received.length; i += 500) {
    await db
      .insertInto('package_list')
      .values(received.slice(i, i + 500).map(receivedRow))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
  const others = events.filter((e) => e.type !== 'PackageReceived');
  if (others.length === 0) return;
  const ids = [...new Set(others.map((e) => e.data.packageId))];
  const rows = await db
    .selectFrom('package_list')
    .select(['id', 'findings', 'waivers', 'revision', 'status'])
    .where('id', 'in', ids)
    .execute();
  const folded = new Map(rows.map((r) => [r.id, { current: r as Current, changes: {} as Changes }]));
  /** Per package, what its last scan in the batch bundles. */
  const bundled = new Map<string, { tenantId: string; specs: readonly BundledSpec[] }>();
  for (const event of others) {
    const row = folded.get(event.data.packageId);
    if (!row || row.current.revision >= event.revision) continue;
    if (event.type === 'PackageScanned') {
      // A scan from before the list was recorded leaves none: unknown, so nothing to re-check.
      bundled.set(event.data.packageId, { tenantId: event.data.tenantId, specs: event.data.bundled ?? [] });
    }
    const when = new Date(event.data.at);
    const changes = changesOf(event, row.current, when);
    Object.assign(row.changes, changes, {
      updated_at: when,
      revision: event.revision,
      position: event.position.toString(),
    });
    row.current = {
      findings: changes.findings ?? row.current.findings,
      waivers: changes.waivers ?? row.current.waivers,
      status: typeof changes.status === 'string' ? changes.status : row.current.status,
      revision: event.revision,
    };
  }
  for (const [id, { changes }] of folded) {
    if (Object.keys(changes).length === 0) continue;
    await db
      .updateTable('package_list')
      .set(changes as never)
      .where('id', '=', id)
      .execute();
  }
  await replaceBundled(db, bundled);
}

/** A new scan's bundled packages replace the previous scan's (a retry scans the package again). */
async function replaceBundled(
  db: Kysely<PackageListTables>,
  bundled: ReadonlyMap<string, { tenantId: string; specs: readonly BundledSpec[] }>,
): Promise<void> {
  const ids = [...bundled.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    await db
      .deleteFrom('package_bundled')
      .where('package_id', 'in', ids.slice(i, i + 500))
      .execute();
  }
  const rows = [...bundled].flatMap(([packageId, { tenantId, specs }]) =>
    specs.map((s) => ({ tenant_id: tenantId, package_id: packageId, name: s.name, version: s.version })),
  );
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('package_bundled')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
