import type { Kysely } from 'kysely';
import type { WorkspaceEvent } from '../../commands/workspaces/index.ts';
import { defineProjection, type Recorded } from '../engine/index.ts';
import { announceRoutesChanged } from './routes-notice.ts';

export interface WorkspaceRouteTable {
  workspace_id: string;
  tenant_id: string;
  user_id: string;
  upstream: string;
  published_at: Date;
  position: string;
}

export type RouteListTables = {
  workspace_routes: WorkspaceRouteTable;
  workspace_route_owners: { workspace_id: string; user_id: string; tenant_id: string };
};

/**
 * The live routes nginx serves: one row per workspace whose route is published and not withdrawn
 * (stopping, failing or deleting withdraws it). The nginx configuration is rendered from these rows;
 * each change is announced on `ROUTES_CHANNEL` so the routers render it at once, not at their tick.
 */
export const routeList = defineProjection<WorkspaceEvent, RouteListTables>()({
  name: 'workspaceRoutes',
  version: 1,
  types: [
    'WorkspaceRequested',
    'WorkspaceRoutePublished',
    'WorkspaceRouteWithdrawn',
    'WorkspaceStopRequested',
    'WorkspaceUnavailable',
    'WorkspaceContainerLost',
    'WorkspaceProvisioningFailed',
    'WorkspaceDeletionRequested',
    'WorkspaceDeleted',
  ],
  tables: ['workspace_routes', 'workspace_route_owners'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('workspace_routes')
      .addColumn('workspace_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('user_id', 'uuid', (c) => c.notNull())
      .addColumn('upstream', 'text', (c) => c.notNull())
      .addColumn('published_at', 'timestamptz', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    // Who a workspace belongs to, so a published route can name its user (the path `/u/<user>/`).
    await db.schema
      .createTable('workspace_route_owners')
      .addColumn('workspace_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('user_id', 'uuid', (c) => c.notNull())
      .execute();
  },
  async apply(event: Recorded<WorkspaceEvent>, db: Kysely<RouteListTables>) {
    const recorded = event;
    const workspaceId = event.data.workspaceId;
    switch (event.type) {
      case 'WorkspaceRequested':
        await db
          .insertInto('workspace_route_owners')
          .values({ workspace_id: workspaceId, tenant_id: event.data.tenantId, user_id: event.data.userId })
          .onConflict((oc) => oc.column('workspace_id').doNothing())
          .execute();
        return;
      case 'WorkspaceRoutePublished': {
        const owner = await db
          .selectFrom('workspace_route_owners')
          .select(['user_id'])
          .where('workspace_id', '=', workspaceId)
          .executeTakeFirst();
        if (!owner) return;
        const row = {
          tenant_id: event.data.tenantId,
          user_id: owner.user_id,
          upstream: event.data.upstream,
          published_at: new Date(event.data.at),
          position: recorded.position.toString(),
        };
        await db
          .insertInto('workspace_routes')
          .values({ workspace_id: workspaceId, ...row })
          .onConflict((oc) => oc.column('workspace_id').doUpdateSet(row))
          .execute();
        await announceRoutesChanged(db);
        return;
      }
      case 'WorkspaceDeleted':
        await db.deleteFrom('workspace_route_owners').where('workspace_id', '=', workspaceId).execute();
        await withdraw(db, workspaceId);
        return;
      default:
        await withdraw(db, workspaceId);
    }
  },
});

/** Deletes the workspace's route, announcing it only when there was one (most stops have none left). */
async function withdraw(db: Kysely<RouteListTables>, workspaceId: string): Promise<void> {
  const deleted = await db
    .deleteFrom('workspace_routes')
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (deleted.numDeletedRows > 0n) await announceRoutesChanged(db);
}
