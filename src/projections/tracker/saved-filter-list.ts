import type { Kysely } from 'kysely';
import { toStorableText } from '../../commands/kernel/index.ts';
import { type SavedFilterEvent, savedFilterEventTypes } from '../../commands/tracker/index.ts';
import { defineProjection } from '../engine/index.ts';

export interface SavedFilterListTable {
  id: string;
  tenant_id: string;
  owner_id: string;
  name: string;
  target: string;
  project_id: string | null;
  query: string;
  created_at: Date;
  position: string;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type SavedFilterListTables = {
  saved_filter_list: SavedFilterListTable;
};

/** One row per live saved filter, with its tenant and owner: a user's list of their own filters reads it. */
export const savedFilterList = defineProjection<SavedFilterEvent, SavedFilterListTables>()({
  name: 'savedFilterList',
  version: 1,
  types: savedFilterEventTypes,
  tables: ['saved_filter_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('saved_filter_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('owner_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('project_id', 'uuid')
      .addColumn('query', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('saved_filter_list_owner_created')
      .on('saved_filter_list')
      .columns(['tenant_id', 'owner_id', 'created_at', 'id'])
      .execute();
  },
  async apply(event, db) {
    const d = event.data;
    if (event.type === 'SavedFilterCreated') {
      await db
        .insertInto('saved_filter_list')
        .values({
          id: d.filterId,
          tenant_id: d.tenantId,
          owner_id: d.ownerId,
          name: toStorableText(event.data.name),
          target: event.data.target,
          project_id: event.data.projectId,
          query: event.data.query,
          created_at: new Date(d.at),
          position: event.position.toString(),
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return;
    }
    await db.deleteFrom('saved_filter_list').where('id', '=', d.filterId).execute();
  },
});

/** One page of a user's saved filters, newest first. */
export function savedFiltersOf(
  db: Kysely<SavedFilterListTables>,
  request: { tenantId: string; ownerId: string; target?: string },
) {
  let query = db
    .selectFrom('saved_filter_list')
    .selectAll()
    .where('tenant_id', '=', request.tenantId)
    .where('owner_id', '=', request.ownerId);
  if (request.target) query = query.where('target', '=', request.target);
  return query;
}
