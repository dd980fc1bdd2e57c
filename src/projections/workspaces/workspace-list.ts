import type { Kysely } from 'kysely';
import type { WorkspaceEvent, WorkspaceStatus } from '../../commands/workspaces/index.ts';
import { defineProjection, type Recorded } from '../engine/index.ts';
import { announceRoutesChanged } from './routes-notice.ts';

export interface WorkspaceListTable {
  id: string;
  tenant_id: string;
  user_id: string;
  image: string;
  cpus: number;
  memory_mb: number;
  ports: number[];
  requested_agent_id: string | null;
  agent_id: string | null;
  status: WorkspaceStatus;
  container_name: string | null;
  upstream: string | null;
  failure_step: string | null;
  failure_reason: string | null;
  created_at: Date;
  updated_at: Date;
  revision: number;
  position: string;
}

export type WorkspaceListTables = { workspace_list: WorkspaceListTable };

const workspaceEventTypes: WorkspaceEvent['type'][] = [
  'WorkspaceRequested',
  'WorkspacePlaced',
  'WorkspaceContainerCreated',
  'WorkspaceContainerStarted',
  'WorkspaceRoutePublished',
  'WorkspaceReady',
  'WorkspaceProvisioningFailed',
  'WorkspaceUnavailable',
  'WorkspaceAgentReturned',
  'WorkspaceContainerLost',
  'WorkspaceStopRequested',
  'WorkspaceStopped',
  'WorkspaceStartRequested',
  'WorkspaceDeletionRequested',
  'WorkspaceRouteWithdrawn',
  'WorkspaceContainerRemoved',
  'WorkspaceDeleted',
];

/**
 * The events that cannot move a workspace into or out of `unavailable` (whose 503 page the routers
 * render from this table): the provisioning steps after placement. A route they publish is announced
 * by the routes projection, and a published route wins over an unavailable row in the render.
 */
const leavesAvailabilityAlone = new Set<WorkspaceEvent['type']>([
  'WorkspaceRequested',
  'WorkspaceContainerCreated',
  'WorkspaceContainerStarted',
  'WorkspaceRoutePublished',
  'WorkspaceReady',
]);

function changeOf(event: WorkspaceEvent): Partial<WorkspaceListTable> {
  switch (event.type) {
    case 'WorkspacePlaced':
      return { status: 'placed', agent_id: event.data.agentId };
    case 'WorkspaceContainerCreated':
      return { status: 'created', container_name: event.data.containerName };
    case 'WorkspaceContainerStarted':
      return { status: 'started' };
    case 'WorkspaceRoutePublished':
      return { status: 'routed', upstream: event.data.upstream };
    case 'WorkspaceReady':
      return { status: 'ready', failure_step: null, failure_reason: null };
    case 'WorkspaceProvisioningFailed':
      return { status: 'failed', failure_step: event.data.step, failure_reason: event.data.reason };
    case 'WorkspaceUnavailable':
    case 'WorkspaceContainerLost':
      return { status: 'unavailable', upstream: null };
    case 'WorkspaceAgentReturned':
      return { status: 'starting' };
    case 'WorkspaceStopRequested':
      return { status: 'stopping' };
    case 'WorkspaceStopped':
      return { status: 'stopped' };
    case 'WorkspaceStartRequested':
      return { status: 'starting' };
    case 'WorkspaceDeletionRequested':
      return { status: 'deleting' };
    case 'WorkspaceRouteWithdrawn':
      return { upstream: null };
    default:
      return {};
  }
}

/** One row per workspace that is not deleted: the list, filters by user, agent and status. */
export const workspaceList = defineProjection<WorkspaceEvent, WorkspaceListTables>()({
  name: 'workspaceList',
  version: 1,
  types: workspaceEventTypes,
  tables: ['workspace_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('workspace_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('user_id', 'uuid', (c) => c.notNull())
      .addColumn('image', 'text', (c) => c.notNull())
      .addColumn('cpus', 'float8', (c) => c.notNull())
      .addColumn('memory_mb', 'integer', (c) => c.notNull())
      .addColumn('ports', 'jsonb', (c) => c.notNull())
      .addColumn('requested_agent_id', 'uuid')
      .addColumn('agent_id', 'uuid')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('container_name', 'text')
      .addColumn('upstream', 'text')
      .addColumn('failure_step', 'text')
      .addColumn('failure_reason', 'text')
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('workspace_list_tenant_created')
      .on('workspace_list')
      .columns(['tenant_id', 'created_at', 'id'])
      .execute();
    await db.schema.createIndex('workspace_list_agent').on('workspace_list').columns(['agent_id']).execute();
  },
  async apply(event: Recorded<WorkspaceEvent>, db: Kysely<WorkspaceListTables>) {
    const recorded = event;
    const common = { revision: recorded.revision, position: recorded.position.toString() };
    // Woken routers render the 503 page (or stop rendering it) at once, not at their next tick.
    if (!leavesAvailabilityAlone.has(event.type)) await announceRoutesChanged(db);
    if (event.type === 'WorkspaceRequested') {
      const d = event.data;
      await db
        .insertInto('workspace_list')
        .values({
          id: d.workspaceId,
          tenant_id: d.tenantId,
          user_id: d.userId,
          image: d.image,
          cpus: d.resources.cpus,
          memory_mb: d.resources.memoryMb,
          // cast: the jsonb column is typed by what it reads (number[]); it is written as JSON text.
          ports: JSON.stringify(d.ports) as unknown as number[],
          requested_agent_id: d.agentId,
          agent_id: null,
          status: 'requested',
          container_name: null,
          upstream: null,
          failure_step: null,
          failure_reason: null,
          created_at: new Date(d.at),
          updated_at: new Date(d.at),
          ...common,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return;
    }
    if (event.type === 'WorkspaceDeleted') {
      await db.deleteFrom('workspace_list').where('id', '=', event.data.workspaceId).execute();
      return;
    }
    await db
      .updateTable('workspace_list')
      .set({ ...changeOf(event), updated_at: new Date(event.data.at), ...common })
      .where('id', '=', event.data.workspaceId)
      .where('revision', '<', recorded.revision)
      .execute();
  },
});
