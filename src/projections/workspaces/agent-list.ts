import { type Kysely, sql } from 'kysely';
import type { AgentEvent } from '../../commands/workspaces/index.ts';
import { defineProjection, type Recorded } from '../engine/index.ts';

export interface WorkspaceAgentTable {
  id: string;
  tenant_id: string;
  name: string;
  url: string;
  labels: string[];
  cpus: number;
  memory_mb: number;
  max_workspaces: number;
  registered_at: Date;
  revision: number;
  position: string;
}

export type AgentListTables = { workspace_agents: WorkspaceAgentTable };

/** One row per registered agent of a tenant (deregistered agents leave the list). */
export const agentList = defineProjection<AgentEvent, AgentListTables>()({
  name: 'workspaceAgentList',
  version: 1,
  types: ['AgentRegistered', 'AgentDeregistered'],
  tables: ['workspace_agents'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('workspace_agents')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('labels', sql`text[]`, (c) => c.notNull())
      .addColumn('cpus', 'float8', (c) => c.notNull())
      .addColumn('memory_mb', 'integer', (c) => c.notNull())
      .addColumn('max_workspaces', 'integer', (c) => c.notNull())
      .addColumn('registered_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('workspace_agents_tenant')
      .on('workspace_agents')
      .columns(['tenant_id', 'name'])
      .execute();
  },
  async apply(event: Recorded<AgentEvent>, db: Kysely<AgentListTables>) {
    const recorded = event;
    if (event.type === 'AgentDeregistered') {
      await db.deleteFrom('workspace_agents').where('id', '=', event.data.agentId).execute();
      return;
    }
    const d = event.data;
    await db
      .insertInto('workspace_agents')
      .values({
        id: d.agentId,
        tenant_id: d.tenantId,
        name: d.name,
        url: d.url,
        labels: d.labels,
        cpus: d.capacity.cpus,
        memory_mb: d.capacity.memoryMb,
        max_workspaces: d.capacity.workspaces,
        registered_at: new Date(d.at),
        revision: recorded.revision,
        position: recorded.position.toString(),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  },
});
