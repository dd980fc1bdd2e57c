import type { Decider } from '../kernel/index.ts';
import { conflict, forbidden, invalid, notFound, ruleViolated } from '../kernel/index.ts';
import {
  checkEvents,
  type ProvisioningStep,
  type Resources,
  type WorkspaceEvent,
  type WorkspaceStatus,
} from './events.ts';

export interface WorkspaceState {
  exists: boolean;
  status: WorkspaceStatus;
  workspaceId: string;
  tenantId: string;
  userId: string;
  image: string;
  resources: Resources;
  /** The agent an admin asked for (null: placement chooses). */
  requestedAgentId: string | null;
  agentId: string | null;
  ports: number[];
  containerName: string | null;
  containerId: string | null;
  upstream: string | null;
  failure: { step: ProvisioningStep; reason: string } | null;
  /** Why the workspace is `unavailable`: its agent fell silent, or its container vanished. */
  lost: 'agent' | 'container' | null;
  deleteData: boolean;
  routeWithdrawn: boolean;
  containerRemoved: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Who asks: the workspace's user may start and stop it; a manager (`workspaces:manage`) any. */
export interface WorkspaceActor {
  userId: string;
  manager: boolean;
}

export type WorkspaceCommand =
  | {
      type: 'RequestWorkspace';
      workspaceId: string;
      tenantId: string;
      userId: string;
      image: string;
      resources: Resources;
      agentId: string | null;
      ports: number[];
      at: string;
      by: string;
    }
  | { type: 'PlaceWorkspace'; agentId: string; at: string }
  | { type: 'RecordContainerCreated'; containerName: string; containerId: string; at: string }
  | { type: 'RecordContainerStarted'; at: string }
  | { type: 'PublishRoute'; upstream: string; at: string }
  | { type: 'MarkReady'; at: string }
  | { type: 'FailProvisioning'; step: ProvisioningStep; reason: string; at: string }
  | { type: 'MarkUnavailable'; reason: string; at: string }
  | { type: 'RecordAgentReturned'; at: string }
  | { type: 'RecordContainerLost'; reason: string; at: string }
  | { type: 'StopWorkspace'; actor: WorkspaceActor; at: string }
  | { type: 'RecordStopped'; at: string }
  | { type: 'StartWorkspace'; actor: WorkspaceActor; at: string }
  | { type: 'DeleteWorkspace'; actor: WorkspaceActor; deleteData: boolean; reason: string; at: string }
  | { type: 'RecordRouteWithdrawn'; at: string }
  | { type: 'RecordContainerRemoved'; at: string }
  | { type: 'MarkDeleted'; at: string }
  | { type: 'OpenWorkspaceSession'; actor: WorkspaceActor; ticketExpiresAt: string; at: string }
  | { type: 'EndWorkspaceSessions'; actor: WorkspaceActor; at: string }
  | { type: 'EndWorkspaceSession'; actor: WorkspaceActor; sessionId: string; at: string };

/** The container Warden makes for a workspace is named after it: a retried create finds it. */
const CONTAINER_PREFIX = 'warden-ws-';
export const containerNameOf = (workspaceId: string) => `${CONTAINER_PREFIX}${workspaceId}`;
/** The workspace a container is named after ({@link containerNameOf}), or undefined. */
export const workspaceIdOfContainer = (name: string): string | undefined =>
  name.startsWith(CONTAINER_PREFIX) ? name.slice(CONTAINER_PREFIX.length) : undefined;

const initialState = (): WorkspaceState => ({
  exists: false,
  status: 'requested',
  workspaceId: '',
  tenantId: '',
  userId: '',
  image: '',
  resources: { cpus: 0, memoryMb: 0 },
  requestedAgentId: null,
  agentId: null,
  ports: [],
  containerName: null,
  containerId: null,
  upstream: null,
  failure: null,
  lost: null,
  deleteData: false,
  routeWithdrawn: false,
  containerRemoved: false,
  createdAt: '',
  updatedAt: '',
});

/** Statuses in which provisioning (or a restart) is under way and may fail. */
const inProgress: readonly WorkspaceStatus[] = [
  'requested',
  'placed',
  'created',
  'started',
  'routed',
  'starting',
  'unavailable',
];
/** Statuses in which the workspace has a container on its agent. */
const onAgent: readonly WorkspaceStatus[] = [
  'created',
  'started',
  'routed',
  'ready',
  'stopping',
  'stopped',
  'starting',
];

/**
 * A step of the provisioning chain: from `from` it happens; once the workspace is at or past `done`
 * (a retry after a crash) it is nothing; anywhere else it is refused.
 */
function step(
  state: WorkspaceState,
  from: readonly WorkspaceStatus[],
  done: readonly WorkspaceStatus[],
  event: () => WorkspaceEvent,
): WorkspaceEvent[] {
  if (from.includes(state.status)) return [event()];
  if (done.includes(state.status)) return [];
  throw ruleViolated('workspace_state', `the workspace is ${state.status}`);
}

function decide(command: WorkspaceCommand, state: WorkspaceState): WorkspaceEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: WorkspaceCommand, state: WorkspaceState): WorkspaceEvent[] {
  if (command.type === 'RequestWorkspace') {
    if (state.exists) throw conflict('the workspace already exists');
    const { type: _, ...data } = command;
    return [{ type: 'WorkspaceRequested', data }];
  }
  if (!state.exists || state.status === 'deleted') throw notFound('workspace');
  if ('actor' in command && !command.actor.manager && command.actor.userId !== state.userId) {
    // Another user's workspace is not theirs to see: as if it did not exist.
    throw notFound('workspace');
  }
  const ids = { workspaceId: state.workspaceId, tenantId: state.tenantId };
  const at = command.at;
  switch (command.type) {
    case 'PlaceWorkspace':
      return step(
        state,
        ['requested', 'unavailable'],
        ['placed', 'created', 'started', 'routed', 'ready'],
        () => ({
          type: 'WorkspacePlaced',
          data: { ...ids, agentId: command.agentId, at },
        }),
      );
    case 'RecordContainerCreated':
      return step(state, ['placed'], ['created', 'started', 'routed', 'ready'], () => ({
        type: 'WorkspaceContainerCreated',
        data: { ...ids, containerName: command.containerName, containerId: command.containerId, at },
      }));
    case 'RecordContainerStarted':
      return step(state, ['created', 'starting'], ['started', 'routed', 'ready'], () => ({
        type: 'WorkspaceContainerStarted',
        data: { ...ids, at },
      }));
    case 'PublishRoute':
      return step(state, ['started'], ['routed', 'ready'], () => ({
        type: 'WorkspaceRoutePublished',
        data: { ...ids, upstream: command.upstream, at },
      }));
    case 'MarkReady':
      return step(state, ['routed'], ['ready'], () => ({ type: 'WorkspaceReady', data: { ...ids, at } }));
    case 'FailProvisioning':
      return step(state, inProgress, ['failed'], () => ({
        type: 'WorkspaceProvisioningFailed',
        data: { ...ids, step: command.step, reason: command.reason.slice(0, 2000), at },
      }));
    case 'MarkUnavailable':
      return step(state, onAgent, ['unavailable'], () => ({
        type: 'WorkspaceUnavailable',
        data: { ...ids, agentId: state.agentId ?? '', reason: command.reason, at },
      }));
    case 'RecordAgentReturned':
      // Only a workspace waiting for its agent comes back; one whose container vanished does not.
      if (state.status !== 'unavailable' || state.lost !== 'agent' || !state.agentId) return [];
      return [{ type: 'WorkspaceAgentReturned', data: { ...ids, agentId: state.agentId, at } }];
    case 'RecordContainerLost':
      return step(state, onAgent, ['unavailable'], () => ({
        type: 'WorkspaceContainerLost',
        data: { ...ids, agentId: state.agentId ?? '', reason: command.reason.slice(0, 500), at },
      }));
    case 'StopWorkspace':
      return step(state, ['ready'], ['stopping', 'stopped'], () => ({
        type: 'WorkspaceStopRequested',
        data: { ...ids, at, by: command.actor.userId },
      }));
    case 'RecordStopped':
      return step(state, ['stopping'], ['stopped'], () => ({
        type: 'WorkspaceStopped',
        data: { ...ids, at },
      }));
    case 'StartWorkspace':
      return step(state, ['stopped'], ['starting', 'started', 'routed', 'ready'], () => ({
        type: 'WorkspaceStartRequested',
        data: { ...ids, at, by: command.actor.userId },
      }));
    case 'DeleteWorkspace':
      if (state.status === 'deleting') return [];
      return [
        {
          type: 'WorkspaceDeletionRequested',
          data: {
            ...ids,
            deleteData: command.deleteData,
            reason: command.reason,
            at,
            by: command.actor.userId,
          },
        },
      ];
    case 'RecordRouteWithdrawn':
      if (state.status === 'deleting' && state.routeWithdrawn) return [];
      return step(state, ['deleting'], [], () => ({ type: 'WorkspaceRouteWithdrawn', data: { ...ids, at } }));
    case 'RecordContainerRemoved':
      if (state.status === 'deleting' && state.containerRemoved) return [];
      return step(state, ['deleting'], [], () => ({
        type: 'WorkspaceContainerRemoved',
        data: { ...ids, at },
      }));
    case 'MarkDeleted':
      return step(state, ['deleting'], [], () => ({ type: 'WorkspaceDeleted', data: { ...ids, at } }));
    case 'OpenWorkspaceSession':
      // A way into the user's own container: not even a manager opens someone else's.
      if (command.actor.userId !== state.userId) {
        throw forbidden("only the workspace's user may open a session of it");
      }
      if (state.status !== 'ready') throw ruleViolated('workspace_state', `the workspace is ${state.status}`);
      return [
        {
          type: 'WorkspaceSessionOpened',
          data: {
            ...ids,
            userId: state.userId,
            ticketExpiresAt: command.ticketExpiresAt,
            at,
            by: command.actor.userId,
          },
        },
      ];
    case 'EndWorkspaceSessions':
      return [{ type: 'WorkspaceSessionsEnded', data: { ...ids, at, by: command.actor.userId } }];
    case 'EndWorkspaceSession':
      return [
        {
          type: 'WorkspaceSessionEnded',
          data: { ...ids, sessionId: command.sessionId, at, by: command.actor.userId },
        },
      ];
  }
}

function evolve(state: WorkspaceState, event: WorkspaceEvent): WorkspaceState {
  const updatedAt = event.data.at;
  switch (event.type) {
    case 'WorkspaceRequested': {
      const d = event.data;
      return {
        ...initialState(),
        exists: true,
        status: 'requested',
        workspaceId: d.workspaceId,
        tenantId: d.tenantId,
        userId: d.userId,
        image: d.image,
        resources: d.resources,
        requestedAgentId: d.agentId,
        ports: d.ports,
        createdAt: d.at,
        updatedAt,
      };
    }
    case 'WorkspacePlaced':
      return {
        ...state,
        status: 'placed',
        lost: null,
        agentId: event.data.agentId,
        containerName: null,
        containerId: null,
        updatedAt,
      };
    case 'WorkspaceUnavailable':
      return { ...state, status: 'unavailable', lost: 'agent', upstream: null, updatedAt };
    case 'WorkspaceContainerLost':
      return { ...state, status: 'unavailable', lost: 'container', upstream: null, updatedAt };
    case 'WorkspaceAgentReturned':
      return { ...state, status: 'starting', lost: null, updatedAt };
    case 'WorkspaceContainerCreated':
      return {
        ...state,
        status: 'created',
        containerName: event.data.containerName,
        containerId: event.data.containerId,
        updatedAt,
      };
    case 'WorkspaceContainerStarted':
      return { ...state, status: 'started', updatedAt };
    case 'WorkspaceRoutePublished':
      return { ...state, status: 'routed', upstream: event.data.upstream, updatedAt };
    case 'WorkspaceReady':
      return { ...state, status: 'ready', failure: null, updatedAt };
    case 'WorkspaceProvisioningFailed':
      return {
        ...state,
        status: 'failed',
        failure: { step: event.data.step, reason: event.data.reason },
        updatedAt,
      };
    case 'WorkspaceStopRequested':
      return { ...state, status: 'stopping', updatedAt };
    case 'WorkspaceStopped':
      return { ...state, status: 'stopped', updatedAt };
    case 'WorkspaceStartRequested':
      return { ...state, status: 'starting', updatedAt };
    case 'WorkspaceDeletionRequested':
      return { ...state, status: 'deleting', deleteData: event.data.deleteData, updatedAt };
    case 'WorkspaceRouteWithdrawn':
      return { ...state, routeWithdrawn: true, upstream: null, updatedAt };
    case 'WorkspaceContainerRemoved':
      return { ...state, containerRemoved: true, updatedAt };
    case 'WorkspaceDeleted':
      return { ...state, status: 'deleted', updatedAt };
    case 'WorkspaceSessionOpened':
    case 'WorkspaceSessionsEnded':
    case 'WorkspaceSessionEnded':
      // Who got in is the audit trail's and the access table's: the workspace itself is unchanged.
      return state;
  }
}

/**
 * A user's container workspace and its lifecycle: requested → placed → created → started → routed →
 * ready, stop/start, failed (with the step and why), deleting → deleted. The provisioning process
 * records each step here; each is idempotent, so a retried step after a crash appends nothing.
 */
export const workspaceDecider: Decider<WorkspaceCommand, WorkspaceEvent, WorkspaceState> = {
  initialState,
  decide,
  evolve,
};
