import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/commands/kernel/decider.ts';
import { DomainError } from '../../src/commands/kernel/errors.ts';
import {
  type AgentEvent,
  agentDecider,
  quotaDecider,
  type SettingsEvent,
  type SlotEvent,
  type WorkspaceCommand,
  type WorkspaceEvent,
  type WorkspaceSettingsCommand,
  type WorkspaceStatus,
  workspaceDecider,
  workspaceSettingsDecider,
  workspacesEventSchemas,
} from '../../src/commands/workspaces/index.ts';
import { specFor } from '../support/decider-spec.ts';

const tenantId = '7f000000-0000-4000-8000-000000000001';
const workspaceId = '7f000000-0000-4000-8000-000000000002';
const userId = '7f000000-0000-4000-8000-000000000003';
const otherUser = '7f000000-0000-4000-8000-000000000004';
const agentId = '7f000000-0000-4000-8000-000000000005';
const at = '2026-12-02T10:00:00.000Z';
const ids = { workspaceId, tenantId };

const requested: WorkspaceEvent = {
  type: 'WorkspaceRequested',
  data: {
    ...ids,
    userId,
    image: 'warden-test/busybox:1',
    resources: { cpus: 0.5, memoryMb: 256 },
    agentId: null,
    ports: [8080],
    at,
    by: userId,
  },
};
const placed: WorkspaceEvent = { type: 'WorkspacePlaced', data: { ...ids, agentId, at } };
const created: WorkspaceEvent = {
  type: 'WorkspaceContainerCreated',
  data: { ...ids, containerName: `warden-ws-${workspaceId}`, containerId: 'c0ffee', at },
};
const started: WorkspaceEvent = { type: 'WorkspaceContainerStarted', data: { ...ids, at } };
const routed: WorkspaceEvent = {
  type: 'WorkspaceRoutePublished',
  data: { ...ids, upstream: '127.0.0.1:32768', at },
};
const ready: WorkspaceEvent = { type: 'WorkspaceReady', data: { ...ids, at } };
const provisioned = [requested, placed, created, started, routed, ready];

const owner = { userId, manager: false };
const stranger = { userId: otherUser, manager: false };
const admin = { userId: otherUser, manager: true };

describe('workspace aggregate', () => {
  const spec = specFor(workspaceDecider);

  it('walks the provisioning chain one recorded step at a time', () => {
    spec.given([requested]).when({ type: 'PlaceWorkspace', agentId, at }).thenEvents([placed]);
    spec
      .given([requested, placed])
      .when({
        type: 'RecordContainerCreated',
        containerName: `warden-ws-${workspaceId}`,
        containerId: 'c0ffee',
        at,
      })
      .thenEvents([created]);
    spec
      .given([requested, placed, created])
      .when({ type: 'RecordContainerStarted', at })
      .thenEvents([started]);
    spec
      .given([requested, placed, created, started])
      .when({ type: 'PublishRoute', upstream: '127.0.0.1:32768', at })
      .thenEvents([routed]);
    spec
      .given([requested, placed, created, started, routed])
      .when({ type: 'MarkReady', at })
      .thenEvents([ready]);
    expect(fold(workspaceDecider, provisioned).status).toBe('ready');
  });

  it('treats a step already recorded (a retry after a crash) as nothing to do', () => {
    spec.given(provisioned).when({ type: 'PlaceWorkspace', agentId, at }).thenEvents([]);
    spec
      .given([requested, placed, created])
      .when({ type: 'RecordContainerCreated', containerName: 'x', containerId: 'y', at })
      .thenEvents([]);
    spec.given(provisioned).when({ type: 'MarkReady', at }).thenEvents([]);
  });

  it('refuses a step out of order', () => {
    spec
      .given([requested])
      .when({ type: 'RecordContainerStarted', at })
      .thenFails('RULE_VIOLATED', 'workspace_state');
    spec
      .given([requested, placed])
      .when({ type: 'MarkReady', at })
      .thenFails('RULE_VIOLATED', 'workspace_state');
  });

  it('waits for a silent agent: back when it answers (starting), only if it was the agent that was lost', () => {
    const unavailable: WorkspaceEvent = {
      type: 'WorkspaceUnavailable',
      data: { ...ids, agentId, reason: 'agent silent', at },
    };
    const returned: WorkspaceEvent = { type: 'WorkspaceAgentReturned', data: { ...ids, agentId, at } };
    spec
      .given([...provisioned, unavailable])
      .when({ type: 'RecordAgentReturned', at })
      .thenEvents([returned]);
    expect(fold(workspaceDecider, [...provisioned, unavailable, returned]).status).toBe('starting');
    // Not lost, or already back: nothing.
    spec.given(provisioned).when({ type: 'RecordAgentReturned', at }).thenEvents([]);
    spec
      .given([...provisioned, unavailable, returned])
      .when({ type: 'RecordAgentReturned', at })
      .thenEvents([]);
  });

  it('marks a vanished container (unavailable, lost by container), which an answering agent does not bring back', () => {
    const lost: WorkspaceEvent = {
      type: 'WorkspaceContainerLost',
      data: { ...ids, agentId, reason: 'container vanished', at },
    };
    spec
      .given(provisioned)
      .when({ type: 'RecordContainerLost', reason: 'container vanished', at })
      .thenEvents([lost]);
    const state = fold(workspaceDecider, [...provisioned, lost]);
    expect(state).toMatchObject({ status: 'unavailable', lost: 'container', upstream: null });
    spec
      .given([...provisioned, lost])
      .when({ type: 'RecordContainerLost', reason: 'container vanished', at })
      .thenEvents([]);
    spec
      .given([...provisioned, lost])
      .when({ type: 'RecordAgentReturned', at })
      .thenEvents([]);
    // Repaired on its agent (placed again), or failed with the reason.
    spec
      .given([...provisioned, lost])
      .when({ type: 'PlaceWorkspace', agentId, at })
      .thenEvents([placed]);
    spec
      .given([...provisioned, lost])
      .when({ type: 'FailProvisioning', step: 'create', reason: 'container vanished', at })
      .thenEvents([
        {
          type: 'WorkspaceProvisioningFailed',
          data: { ...ids, step: 'create', reason: 'container vanished', at },
        },
      ]);
    spec
      .given([requested, placed])
      .when({ type: 'RecordContainerLost', reason: 'container vanished', at })
      .thenFails('RULE_VIOLATED', 'workspace_state');
  });

  it('records a failed step with the reason, and a failed workspace fails no further', () => {
    const failed: WorkspaceEvent = {
      type: 'WorkspaceProvisioningFailed',
      data: { ...ids, step: 'create', reason: 'image not found', at },
    };
    spec
      .given([requested, placed])
      .when({ type: 'FailProvisioning', step: 'create', reason: 'image not found', at })
      .thenEvents([failed]);
    spec
      .given([requested, placed, failed])
      .when({ type: 'FailProvisioning', step: 'create', reason: 'x', at })
      .thenEvents([]);
    expect(fold(workspaceDecider, [requested, placed, failed]).failure).toEqual({
      step: 'create',
      reason: 'image not found',
    });
  });

  it('lets its user and a manager stop and start it; another member sees no such workspace', () => {
    const stopRequested: WorkspaceEvent = {
      type: 'WorkspaceStopRequested',
      data: { ...ids, at, by: userId },
    };
    spec.given(provisioned).when({ type: 'StopWorkspace', actor: owner, at }).thenEvents([stopRequested]);
    spec
      .given(provisioned)
      .when({ type: 'StopWorkspace', actor: admin, at })
      .thenEvents([{ type: 'WorkspaceStopRequested', data: { ...ids, at, by: otherUser } }]);
    spec.given(provisioned).when({ type: 'StopWorkspace', actor: stranger, at }).thenFails('NOT_FOUND');
    const stopped: WorkspaceEvent = { type: 'WorkspaceStopped', data: { ...ids, at } };
    spec
      .given([...provisioned, stopRequested])
      .when({ type: 'RecordStopped', at })
      .thenEvents([stopped]);
    spec
      .given([...provisioned, stopRequested, stopped])
      .when({ type: 'StartWorkspace', actor: owner, at })
      .thenEvents([{ type: 'WorkspaceStartRequested', data: { ...ids, at, by: userId } }]);
    spec.given(provisioned).when({ type: 'StartWorkspace', actor: owner, at }).thenEvents([]);
    spec
      .given([requested])
      .when({ type: 'StopWorkspace', actor: owner, at })
      .thenFails('RULE_VIOLATED', 'workspace_state');
  });

  it('opens a session only for its own user while ready (not even a manager opens another’s), and records every end', () => {
    const expires = '2026-12-02T10:01:00.000Z';
    const open = (actor: typeof owner): WorkspaceCommand => ({
      type: 'OpenWorkspaceSession',
      actor,
      ticketExpiresAt: expires,
      at,
    });
    spec
      .given(provisioned)
      .when(open(owner))
      .thenEvents([
        {
          type: 'WorkspaceSessionOpened',
          data: { ...ids, userId, ticketExpiresAt: expires, at, by: userId },
        },
      ]);
    spec.given(provisioned).when(open(admin)).thenFails('FORBIDDEN');
    spec.given(provisioned).when(open(stranger)).thenFails('NOT_FOUND');
    spec.given([requested, placed]).when(open(owner)).thenFails('RULE_VIOLATED', 'workspace_state');
    const stopRequested: WorkspaceEvent = {
      type: 'WorkspaceStopRequested',
      data: { ...ids, at, by: userId },
    };
    spec
      .given([...provisioned, stopRequested])
      .when(open(owner))
      .thenFails('RULE_VIOLATED', 'workspace_state');
    // Sessions leave the workspace as it was: its status and revision-free state.
    const opened = workspaceDecider.decide(open(owner), fold(workspaceDecider, provisioned));
    expect(fold(workspaceDecider, [...provisioned, ...opened])).toEqual(fold(workspaceDecider, provisioned));
    spec
      .given(provisioned)
      .when({ type: 'EndWorkspaceSessions', actor: admin, at })
      .thenEvents([{ type: 'WorkspaceSessionsEnded', data: { ...ids, at, by: otherUser } }]);
    spec
      .given(provisioned)
      .when({ type: 'EndWorkspaceSessions', actor: stranger, at })
      .thenFails('NOT_FOUND');
    // One session, by its public id: its user or a manager; to anyone else the workspace is not there.
    const sessionId = '7f000000-0000-4000-8000-000000000006';
    for (const actor of [owner, admin]) {
      spec
        .given(provisioned)
        .when({ type: 'EndWorkspaceSession', actor, sessionId, at })
        .thenEvents([{ type: 'WorkspaceSessionEnded', data: { ...ids, sessionId, at, by: actor.userId } }]);
    }
    spec
      .given(provisioned)
      .when({ type: 'EndWorkspaceSession', actor: stranger, sessionId, at })
      .thenFails('NOT_FOUND');
    spec
      .given(provisioned)
      .when({ type: 'EndWorkspaceSession', actor: owner, sessionId: 'not-a-uuid', at })
      .thenFails('INVALID');
  });

  it('deletes in reverse: route withdrawn, container removed, then deleted; afterwards it is gone', () => {
    const deletion: WorkspaceEvent = {
      type: 'WorkspaceDeletionRequested',
      data: { ...ids, deleteData: true, reason: 'requested', at, by: otherUser },
    };
    spec
      .given(provisioned)
      .when({ type: 'DeleteWorkspace', actor: admin, deleteData: true, reason: 'requested', at })
      .thenEvents([deletion]);
    const withdrawn: WorkspaceEvent = { type: 'WorkspaceRouteWithdrawn', data: { ...ids, at } };
    const removed: WorkspaceEvent = { type: 'WorkspaceContainerRemoved', data: { ...ids, at } };
    spec
      .given([...provisioned, deletion])
      .when({ type: 'RecordRouteWithdrawn', at })
      .thenEvents([withdrawn]);
    spec
      .given([...provisioned, deletion, withdrawn])
      .when({ type: 'RecordRouteWithdrawn', at })
      .thenEvents([]);
    spec
      .given([...provisioned, deletion, withdrawn])
      .when({ type: 'RecordContainerRemoved', at })
      .thenEvents([removed]);
    const deleted: WorkspaceEvent = { type: 'WorkspaceDeleted', data: { ...ids, at } };
    spec
      .given([...provisioned, deletion, withdrawn, removed])
      .when({ type: 'MarkDeleted', at })
      .thenEvents([deleted]);
    spec
      .given([...provisioned, deletion, withdrawn, removed, deleted])
      .when({ type: 'StartWorkspace', actor: admin, at })
      .thenFails('NOT_FOUND');
  });
});

describe('workspace quota', () => {
  const spec = specFor(quotaDecider);
  const claim = (workspace: string, user: string, limit: number | null) =>
    ({ type: 'ClaimWorkspaceSlot', tenantId, workspaceId: workspace, userId: user, limit, at }) as const;
  const claimed = (workspace: string, user: string, limit: number | null): SlotEvent => ({
    type: 'WorkspaceSlotClaimed',
    data: { tenantId, workspaceId: workspace, userId: user, limit, at },
  });

  it('takes a slot while the plan allows, and refuses the next with the numbers', () => {
    spec
      .given([])
      .when(claim(workspaceId, userId, 1))
      .thenEvents([claimed(workspaceId, userId, 1)]);
    spec
      .given([claimed(workspaceId, userId, 1)])
      .when(claim(agentId, otherUser, 1))
      .thenFails('CONFLICT');
    spec
      .given([claimed(workspaceId, userId, null)])
      .when(claim(agentId, otherUser, null))
      .thenEvents([claimed(agentId, otherUser, null)]);
  });

  it('refuses a second workspace for one user, and frees the slot on release', () => {
    spec
      .given([claimed(workspaceId, userId, 5)])
      .when(claim(agentId, userId, 5))
      .thenFails('CONFLICT');
    spec
      .given([claimed(workspaceId, userId, 5)])
      .when(claim(workspaceId, userId, 5))
      .thenEvents([]);
    const released: SlotEvent = {
      type: 'WorkspaceSlotReleased',
      data: { tenantId, workspaceId, userId, at },
    };
    spec
      .given([claimed(workspaceId, userId, 1)])
      .when({ type: 'ReleaseWorkspaceSlot', tenantId, workspaceId, at })
      .thenEvents([released]);
    spec
      .given([claimed(workspaceId, userId, 1), released])
      .when(claim(agentId, otherUser, 1))
      .thenEvents([claimed(agentId, otherUser, 1)]);
  });

  const secondWorkspace = '7f000000-0000-4000-8000-000000000006';
  const room = {
    agentId,
    agentName: 'host-a',
    capacity: { cpus: 1, memoryMb: 512, workspaces: 2 },
    resources: { cpus: 0.5, memoryMb: 256 },
  };
  const placedOn = (workspace: string): SlotEvent => ({
    type: 'WorkspaceSlotPlaced',
    data: { tenantId, workspaceId: workspace, agentId, cpus: 0.5, memoryMb: 256, at },
  });

  it('takes the chosen agent’s room in the same append as the slot, and refuses what does not fit with the numbers', () => {
    spec
      .given([])
      .when({ ...claim(workspaceId, userId, null), placement: room })
      .thenEvents([claimed(workspaceId, userId, null), placedOn(workspaceId)]);
    spec
      .given([claimed(workspaceId, userId, null), placedOn(workspaceId)])
      .when({ ...claim(secondWorkspace, otherUser, null), placement: room })
      .thenEvents([claimed(secondWorkspace, otherUser, null), placedOn(secondWorkspace)]);
    const full = [
      claimed(workspaceId, userId, null),
      placedOn(workspaceId),
      claimed(secondWorkspace, otherUser, null),
      placedOn(secondWorkspace),
    ];
    const third = '7f000000-0000-4000-8000-000000000007';
    expect(() =>
      quotaDecider.decide(
        { ...claim(third, '7f000000-0000-4000-8000-000000000008', null), placement: room },
        fold(quotaDecider, full),
      ),
    ).toThrow('the agent host-a has 0 CPUs, 0 MB and 0 workspaces free; asked for 0.5 CPUs and 256 MB');
  });

  it('places a claimed slot once per agent, refuses a full agent, and frees the room on release', () => {
    const place = { type: 'PlaceWorkspaceSlot', tenantId, workspaceId, at, ...room } as const;
    spec
      .given([claimed(workspaceId, userId, null)])
      .when(place)
      .thenEvents([placedOn(workspaceId)]);
    spec
      .given([claimed(workspaceId, userId, null), placedOn(workspaceId)])
      .when(place)
      .thenEvents([]);
    spec.given([]).when(place).thenFails('NOT_FOUND');
    const big = { ...room, resources: { cpus: 0.75, memoryMb: 256 } };
    spec
      .given([
        claimed(secondWorkspace, otherUser, null),
        placedOn(secondWorkspace),
        claimed(workspaceId, userId, null),
      ])
      .when({ ...place, ...big })
      .thenFails('CONFLICT');
    spec
      .given([
        claimed(secondWorkspace, otherUser, null),
        placedOn(secondWorkspace),
        {
          type: 'WorkspaceSlotReleased',
          data: { tenantId, workspaceId: secondWorkspace, userId: otherUser, at },
        },
        claimed(workspaceId, userId, null),
      ])
      .when({ ...place, ...big })
      .thenEvents([
        {
          type: 'WorkspaceSlotPlaced',
          data: { tenantId, workspaceId, agentId, cpus: 0.75, memoryMb: 256, at },
        },
      ]);
  });
});

describe('workspace settings', () => {
  const spec = specFor(workspaceSettingsDecider);
  const turnOn: WorkspaceSettingsCommand = {
    type: 'SetWorkspaceOnApproval',
    tenantId,
    enabled: true,
    image: 'warden-test/busybox:1',
    resources: { cpus: 0.5, memoryMb: 256 },
    ports: [8080],
    at,
    by: userId,
  };
  const { type: _, ...data } = turnOn as Extract<
    WorkspaceSettingsCommand,
    { type: 'SetWorkspaceOnApproval' }
  >;
  const set: SettingsEvent = { type: 'WorkspaceOnApprovalSet', data };

  it('is off until an admin turns it on with an image, and the same setting again appends nothing', () => {
    expect(workspaceSettingsDecider.initialState().onApproval.enabled).toBe(false);
    spec.given([]).when(turnOn).thenEvents([set]);
    spec.given([set]).when(turnOn).thenEvents([]);
    spec
      .given([])
      .when({ ...turnOn, image: null })
      .thenFails('INVALID');
    spec
      .given([set])
      .when({ ...turnOn, enabled: false })
      .thenEvents([{ type: 'WorkspaceOnApprovalSet', data: { ...data, enabled: false } }]);
  });

  it('recreates on loss by default; an admin sets `wait` / `mark`, and the same policy again appends nothing', () => {
    expect(workspaceSettingsDecider.initialState().loss).toMatchObject({
      onAgentLoss: 'recreate',
      onContainerLost: 'recreate',
    });
    const policy: WorkspaceSettingsCommand = {
      type: 'SetWorkspaceLossPolicy',
      tenantId,
      onAgentLoss: 'wait',
      onContainerLost: 'mark',
      at,
      by: userId,
    };
    const policySet: SettingsEvent = {
      type: 'WorkspaceLossPolicySet',
      data: { tenantId, onAgentLoss: 'wait', onContainerLost: 'mark', at, by: userId },
    };
    spec.given([set]).when(policy).thenEvents([policySet]);
    spec.given([set, policySet]).when(policy).thenEvents([]);
    spec
      .given([])
      .when({ ...policy, onAgentLoss: 'recreate', onContainerLost: 'recreate' })
      .thenEvents([]);
    const state = fold(workspaceSettingsDecider, [set, policySet]);
    expect(state.loss).toEqual({ onAgentLoss: 'wait', onContainerLost: 'mark', updatedAt: at, by: userId });
    expect(state.onApproval.enabled).toBe(true);
  });

  it('records why an approval got no workspace', () => {
    spec
      .given([set])
      .when({ type: 'RecordWorkspaceOnApprovalRefused', tenantId, userId, reason: 'quota full', at })
      .thenEvents([
        { type: 'WorkspaceOnApprovalRefused', data: { tenantId, userId, reason: 'quota full', at } },
      ]);
  });
});

describe('agent aggregate', () => {
  const spec = specFor(agentDecider);
  const registered: AgentEvent = {
    type: 'AgentRegistered',
    data: {
      agentId,
      tenantId,
      name: 'host-1',
      url: 'http://127.0.0.1:7070',
      labels: ['gpu', 'ssd'],
      capacity: { cpus: 4, memoryMb: 8192, workspaces: 10 },
      at,
      by: userId,
    },
  };

  it('registers once (labels deduplicated and sorted), deregisters once', () => {
    spec
      .given([])
      .when({ type: 'RegisterAgent', ...registered.data, labels: ['ssd', 'gpu', 'ssd'] })
      .thenEvents([registered]);
    spec
      .given([registered])
      .when({ type: 'RegisterAgent', ...registered.data })
      .thenFails('CONFLICT');
    const gone: AgentEvent = { type: 'AgentDeregistered', data: { agentId, tenantId, at, by: userId } };
    spec.given([registered]).when({ type: 'DeregisterAgent', at, by: userId }).thenEvents([gone]);
    spec.given([registered, gone]).when({ type: 'DeregisterAgent', at, by: userId }).thenFails('NOT_FOUND');
  });

  it('refuses a name or capacity outside the contract, naming the field', () => {
    spec
      .given([])
      .when({
        type: 'RegisterAgent',
        ...registered.data,
        name: 'Not A Name',
        capacity: { cpus: 0, memoryMb: 1, workspaces: 0 },
      })
      .thenFails('INVALID');
  });
});

/** The edges the workspace state machine may take, and nothing else. */
const allowed: Record<WorkspaceStatus, readonly WorkspaceStatus[]> = {
  requested: ['placed', 'failed', 'deleting'],
  placed: ['created', 'failed', 'deleting'],
  created: ['started', 'failed', 'unavailable', 'deleting'],
  started: ['routed', 'failed', 'unavailable', 'deleting'],
  routed: ['ready', 'failed', 'unavailable', 'deleting'],
  ready: ['stopping', 'unavailable', 'deleting'],
  stopping: ['stopped', 'unavailable', 'deleting'],
  stopped: ['starting', 'unavailable', 'deleting'],
  starting: ['started', 'failed', 'unavailable', 'deleting'],
  unavailable: ['placed', 'starting', 'failed', 'deleting'],
  failed: ['deleting'],
  deleting: ['deleted'],
  deleted: [],
};

const actor = fc.constantFrom(owner, stranger, admin);
const workspaceCommand: fc.Arbitrary<WorkspaceCommand> = fc.oneof(
  fc.constant<WorkspaceCommand>({ type: 'PlaceWorkspace', agentId, at }),
  fc.constant<WorkspaceCommand>({
    type: 'RecordContainerCreated',
    containerName: 'c',
    containerId: 'id',
    at,
  }),
  fc.constant<WorkspaceCommand>({ type: 'RecordContainerStarted', at }),
  fc.constant<WorkspaceCommand>({ type: 'PublishRoute', upstream: '127.0.0.1:40000', at }),
  fc.constant<WorkspaceCommand>({ type: 'MarkReady', at }),
  fc
    .constantFrom('place', 'create', 'start', 'route')
    .map(
      (step): WorkspaceCommand => ({ type: 'FailProvisioning', step: step as 'create', reason: 'boom', at }),
    ),
  actor.map((a): WorkspaceCommand => ({ type: 'StopWorkspace', actor: a, at })),
  fc.constant<WorkspaceCommand>({ type: 'RecordStopped', at }),
  fc.constant<WorkspaceCommand>({ type: 'MarkUnavailable', reason: 'agent silent', at }),
  fc.constant<WorkspaceCommand>({ type: 'RecordAgentReturned', at }),
  fc.constant<WorkspaceCommand>({ type: 'RecordContainerLost', reason: 'container vanished', at }),
  actor.map((a): WorkspaceCommand => ({ type: 'StartWorkspace', actor: a, at })),
  fc.tuple(actor, fc.boolean()).map(
    ([a, deleteData]): WorkspaceCommand => ({
      type: 'DeleteWorkspace',
      actor: a,
      deleteData,
      reason: 'r',
      at,
    }),
  ),
  fc.constant<WorkspaceCommand>({ type: 'RecordRouteWithdrawn', at }),
  fc.constant<WorkspaceCommand>({ type: 'RecordContainerRemoved', at }),
  fc.constant<WorkspaceCommand>({ type: 'MarkDeleted', at }),
  fc
    .constantFrom(owner, admin)
    .map((actor): WorkspaceCommand => ({ type: 'OpenWorkspaceSession', actor, ticketExpiresAt: at, at })),
  fc
    .constantFrom(owner, admin)
    .map((actor): WorkspaceCommand => ({ type: 'EndWorkspaceSessions', actor, at })),
);

describe('workspace state machine (property)', () => {
  it('only takes allowed edges, refuses with typed errors, keeps events in contract, and replays exactly', () => {
    fc.assert(
      fc.property(fc.array(workspaceCommand, { maxLength: 40 }), (commands) => {
        let state = fold(workspaceDecider, [requested]);
        const log: WorkspaceEvent[] = [requested];
        for (const command of commands) {
          let events: WorkspaceEvent[];
          try {
            events = workspaceDecider.decide(command, state);
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            // A refused command leaves the state as it was.
            continue;
          }
          for (const event of events) {
            expect(workspacesEventSchemas[event.type].safeParse(event.data).success).toBe(true);
            const next = workspaceDecider.evolve(state, event);
            if (next.status !== state.status) expect(allowed[state.status]).toContain(next.status);
            state = next;
            log.push(event);
          }
          // Deciding the same command again right away appends nothing (every step is idempotent)
          // or is refused: never a second copy of the same effect.
          // A session opened or ended is an act of its own each time, as a deletion request is.
          const repeatable = ['DeleteWorkspace', 'OpenWorkspaceSession', 'EndWorkspaceSessions'];
          if (events.length > 0 && !repeatable.includes(command.type)) {
            let again: WorkspaceEvent[] = [];
            try {
              again = workspaceDecider.decide(command, state);
            } catch {
              again = [];
            }
            expect(again).toEqual([]);
          }
        }
        expect(fold(workspaceDecider, log)).toEqual(state);
        if (state.status === 'deleted') expect(log.at(-1)?.type).toBe('WorkspaceDeleted');
      }),
      { numRuns: 500 },
    );
  });
});
