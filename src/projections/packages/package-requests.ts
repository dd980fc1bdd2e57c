import type { Kysely } from 'kysely';
import type { PackagesEvent } from '../../commands/packages/index.ts';
import { packageIdFor } from '../../commands/packages/index.ts';
import { defineProjection } from '../engine/index.ts';

export interface PackageRequestListTable {
  id: string;
  tenant_id: string;
  requested_by: string;
  /** package-lock, pnpm-lock, yarn-classic or yarn-berry. */
  lockfile_format: string;
  lockfile_version: number;
  project: string | null;
  /** Packages the pipeline handles (bundled ones arrive inside their parent). */
  total: number;
  bundled: number;
  /** Lockfile entries from sources Warden never fetches (`link:`, `file:`, git, tarball URLs). */
  unsupported: unknown;
  created_at: Date;
  position: string;
}

export interface PackageRequestItemsTable {
  request_id: string;
  tenant_id: string;
  package_id: string;
  spec: string;
  integrity: string | null;
  dev: boolean;
  optional: boolean;
  peer: boolean;
  bundled: boolean;
}

export type PackageRequestTables = {
  package_request_list: PackageRequestListTable;
  package_request_items: PackageRequestItemsTable;
};

/**
 * One row per submitted lockfile and one per package it names. A request's status and progress are
 * read by joining its items with the package list, so a package processed once shows its progress in
 * every request that names it.
 */
export const packageRequests = defineProjection<
  Extract<PackagesEvent, { type: 'PackageRequestSubmitted' }>,
  PackageRequestTables
>()({
  name: 'packageRequests',
  // 2: the lockfile's format (pnpm and Yarn lockfiles are accepted beside npm's).
  version: 2,
  types: ['PackageRequestSubmitted'],
  tables: ['package_request_list', 'package_request_items'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('package_request_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('requested_by', 'text', (c) => c.notNull())
      .addColumn('lockfile_format', 'text', (c) => c.notNull())
      .addColumn('lockfile_version', 'integer', (c) => c.notNull())
      .addColumn('project', 'text')
      .addColumn('total', 'integer', (c) => c.notNull())
      .addColumn('bundled', 'integer', (c) => c.notNull())
      .addColumn('unsupported', 'jsonb', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('package_request_items')
      .addColumn('request_id', 'uuid', (c) => c.notNull())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('package_id', 'uuid', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('integrity', 'text')
      .addColumn('dev', 'boolean', (c) => c.notNull())
      .addColumn('optional', 'boolean', (c) => c.notNull())
      .addColumn('peer', 'boolean', (c) => c.notNull())
      .addColumn('bundled', 'boolean', (c) => c.notNull())
      .addPrimaryKeyConstraint('package_request_items_pk', ['request_id', 'spec'])
      .execute();
  },
  async createIndexes(db: Kysely<unknown>) {
    await db.schema
      .createIndex('package_request_list_tenant_created')
      .on('package_request_list')
      .columns(['tenant_id', 'created_at', 'id'])
      .execute();
    await db.schema
      .createIndex('package_request_items_package')
      .on('package_request_items')
      .columns(['package_id'])
      .execute();
  },
  async apply(event, db) {
    if (event.type !== 'PackageRequestSubmitted') return;
    const d = event.data;
    const inserted = await db
      .insertInto('package_request_list')
      .values({
        id: d.requestId,
        tenant_id: d.tenantId,
        requested_by: d.by,
        lockfile_format: d.lockfileFormat ?? 'package-lock',
        lockfile_version: d.lockfileVersion,
        project: d.project,
        total: d.packages.filter((p) => !p.bundled).length,
        bundled: d.packages.filter((p) => p.bundled).length,
        unsupported: JSON.stringify(d.rejected),
        created_at: new Date(d.at),
        position: event.position.toString(),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return;
    const items = await Promise.all(
      d.packages.map(async (p) => ({
        request_id: d.requestId,
        tenant_id: d.tenantId,
        package_id: await packageIdFor(d.tenantId, p.spec),
        spec: p.spec,
        integrity: p.integrity,
        dev: p.dev,
        optional: p.optional,
        peer: p.peer,
        bundled: p.bundled,
      })),
    );
    for (let i = 0; i < items.length; i += 1000) {
      await db
        .insertInto('package_request_items')
        .values(items.slice(i, i + 1000))
        .execute();
    }
  },
});
