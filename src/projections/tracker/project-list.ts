import { type Kysely, sql } from 'kysely';
import { toStorableText } from '../../commands/kernel/index.ts';
import { type ProjectEvent, projectEventTypes } from '../../commands/tracker/index.ts';
import { defineProjection } from '../engine/index.ts';

export interface ProjectListTable {
  id: string;
  tenant_id: string;
  key: string;
  name: string;
  description: string;
  labels: string[];
  archived: boolean;
  members: number;
  created_at: Date;
  updated_at: Date;
  revision: number;
  position: string;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type ProjectListTables = {
  project_list: ProjectListTable;
};

/** Key and name weigh most (A), the description next (B); queries add `:*` for prefix matching. */
const SEARCH_VECTOR = sql`
  setweight(to_tsvector('english'::regconfig, key || ' ' || name), 'A') ||
  setweight(to_tsvector('english'::regconfig, description), 'B')`;

/**
 * One row per project, with a full-text search vector: the projects list (filters, sorts, search)
 * reads it (a project itself is read from its events).
 */
export const projectList = defineProjection<ProjectEvent, ProjectListTables>()({
  name: 'projectList',
  // 2: a search vector and the indexes of the list's sorts.
  version: 2,
  types: projectEventTypes,
  tables: ['project_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('project_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('labels', sql`text[]`, (c) => c.notNull())
      .addColumn('archived', 'boolean', (c) => c.notNull())
      .addColumn('members', 'integer', (c) => c.notNull())
      .addColumn('search', sql`tsvector`, (c) => c.generatedAlwaysAs(SEARCH_VECTOR).stored())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    // Keyset orders: the list sorts by (column, id) inside a tenant.
    for (const column of ['key', 'name', 'created_at', 'updated_at']) {
      await db.schema
        .createIndex(`project_list_tenant_${column}`)
        .on('project_list')
        .columns(['tenant_id', column, 'id'])
        .execute();
    }
    await sql`create index project_list_search on project_list using gin (search)`.execute(db);
    await sql`create index project_list_labels on project_list using gin (labels)`.execute(db);
  },
  async apply(event, db) {
    const common = { revision: event.revision, position: event.position.toString() };
    if (event.type === 'ProjectCreated') {
      const d = event.data;
      await db
        .insertInto('project_list')
        .values({
          id: d.projectId,
          tenant_id: d.tenantId,
          key: d.key,
          name: toStorableText(d.name),
          description: toStorableText(d.description),
          labels: d.labels,
          archived: false,
          members: 1,
          created_at: new Date(d.at),
          updated_at: new Date(d.at),
          ...common,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return;
    }
    await db
      .updateTable('project_list')
      .set((eb) => {
        switch (event.type) {
          case 'ProjectRenamed':
            return { name: toStorableText(event.data.name) };
          case 'ProjectDescribed':
            return { description: toStorableText(event.data.description) };
          case 'ProjectLabelsChanged':
            return { labels: event.data.labels };
          case 'ProjectArchived':
            return { archived: true };
          case 'ProjectMemberAdded':
            return { members: eb('members', '+', 1) };
          case 'ProjectMemberRemoved':
            return { members: eb('members', '-', 1) };
          default:
            return {};
        }
      })
      .set({ updated_at: new Date(event.data.at), ...common })
      .where('id', '=', event.data.projectId)
      .where('revision', '<', event.revision)
      .execute();
  },
});
