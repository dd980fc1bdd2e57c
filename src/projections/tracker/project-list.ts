import { type Kysely, sql } from 'kysely';
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

/** One row per project: the projects list reads it (a project itself is read from its events). */
export const projectList = defineProjection<ProjectEvent, ProjectListTables>()({
  name: 'projectList',
  version: 1,
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
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('project_list_tenant_created')
      .on('project_list')
      .columns(['tenant_id', 'created_at', 'id'])
      .execute();
    await db.schema
      .createIndex('project_list_tenant_key')
      .on('project_list')
      .columns(['tenant_id', 'key'])
      .execute();
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
          name: d.name,
          description: d.description,
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
            return { name: event.data.name };
          case 'ProjectDescribed':
            return { description: event.data.description };
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
