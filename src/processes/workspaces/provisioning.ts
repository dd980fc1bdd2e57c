import { type IdentityEvent, isLive, userDecider, userStreamId } from '../../commands/identity/index.ts';
import { isDomainError, load } from '../../commands/kernel/index.ts';
import { type TenancyEvent, tenantStatus } from '../../commands/tenancy/index.ts';
import {
  agentUsageOf,
  type ProvisioningStep,
  quotaDecider,
  quotaStreamId,
  settingsStreamId,
  type WorkspaceCommand,
  type WorkspaceEvent,
  type WorkspaceState,
  workspaceDecider,
  workspaceSettingsDecider,
  workspaceStreamId,
} from '../../commands/workspaces/index.ts';
import { listAgents, type WorkspacesReadTables } from '../../projections/workspaces/index.ts';
import { dropImageRegistry } from '../../workspaces/index.ts';
import { defineProcessManager, type ProcessContext } from '../runtime/index.ts';
import { AGENT_STEPS, type Prepared, prepareStep } from './provisioning-steps.ts';

const NAME = 'workspaceProvisioning';

type UserGone = Extract<IdentityEvent, { type: 'UserRemoved' | 'UserRejected' }>;
type TenantDeleted = Extract<TenancyEvent, { type: 'TenantDeleted' }>;

type Ctx = ProcessContext<WorkspacesReadTables>;

const now = () => new Date().toISOString();

async function issue(ctx: Ctx, workspaceId: string, command: WorkspaceCommand, key?: string) {
  try {
    await ctx.issue(
      workspaceStreamId(workspaceId),
      workspaceDecider,
      command,
      key === undefined ? {} : { key },
    );
  } catch (error) {
    // The workspace moved on meanwhile (deleted while being created…): the step no longer applies.
    if (isDomainError(error)) {
      ctx.logger.info(
        { workspaceId, command: command.type, reason: error.message },
        'workspace step no longer applies',
      );
      return;
    }
    throw error;
  }
}

/**
 * Places the workspace: on the agent asked for, or else the one with the most free CPU that fits.
 * Room is taken on the tenant's quota stream (expected revision), not read from a read model, so two
 * placements running at once cannot overfill an agent: the loser is refused and tries the next agent.
 */
async function place(ctx: Ctx, state: WorkspaceState, exclude?: string): Promise<string | undefined> {
  const [agents, quota] = await Promise.all([
    listAgents(ctx.db, state.tenantId),
    load(ctx.store, quotaStreamId(state.tenantId), quotaDecider),
  ]);
  const candidates = agents
    .filter((agent) => agent.id !== exclude)
    .filter(
      (agent) =>
        exclude !== undefined || state.requestedAgentId === null || agent.id === state.requestedAgentId,
    )
    .map((agent) => ({ agent, used: agentUsageOf(quota.state, agent.id, state.workspaceId) }))
    .sort(
      (a, b) =>
        b.agent.cpus - b.used.cpus - (a.agent.cpus - a.used.cpus) || a.agent.name.localeCompare(b.agent.name),
    );
  for (const { agent } of candidates) {
    try {
      await ctx.issue(
        quotaStreamId(state.tenantId),
        quotaDecider,
        {
          type: 'PlaceWorkspaceSlot',
          tenantId: state.tenantId,
          workspaceId: state.workspaceId,
          agentId: agent.id,
          agentName: agent.name,
          capacity: { cpus: agent.cpus, memoryMb: agent.memory_mb, workspaces: agent.max_workspaces },
          resources: state.resources,
          at: now(),
        },
        { key: `place-${agent.id}`, maxAttempts: 100 },
      );
      return agent.id;
    } catch (error) {
      // No room there (any more), or the slot is gone (the workspace was deleted): the next one.
      if (!isDomainError(error)) throw error;
    }
  }
  return undefined;
}

async function fail(ctx: Ctx, state: WorkspaceState, step: ProvisioningStep, reason: string) {
  await issue(ctx, state.workspaceId, { type: 'FailProvisioning', step, reason, at: now() });
}

/**
 * Deletes every workspace of the tenant (of one user, when `userId` is given), whatever its state:
 * the saga then withdraws each route and removes each container and its data. The command key is the
 * workspace's id, so re-handling the event deletes nothing twice.
 *
 * The workspaces are those of the tenant's quota stream (read now, from the log: every slot claimed
 * up to this moment, whatever the read models have seen yet) and of the workspace list (which also
 * holds failed ones, whose slot is given back). A workspace whose claim comes later meets the
 * removal in the saga's own check before it is placed (`whyGone`).
 */
async function deprovision(ctx: Ctx, tenantId: string, userId: string | undefined, reason: string) {
  let rows = ctx.db.selectFrom('workspace_list').select(['id']).where('tenant_id', '=', tenantId);
  if (userId !== undefined) rows = rows.where('user_id', '=', userId);
  const [listed, quota] = await Promise.all([
    rows.execute(),
    load(ctx.store, quotaStreamId(tenantId), quotaDecider),
  ]);
  const slots = Object.entries(quota.state.slots)
    .filter(([, holder]) => userId === undefined || holder === userId)
    .map(([workspaceId]) => workspaceId);
  for (const workspaceId of new Set([...slots, ...listed.map((row) => row.id)])) {
    await issue(
      ctx,
      workspaceId,
      {
        type: 'DeleteWorkspace',
        actor: { userId: `process:${NAME}`, manager: true },
        deleteData: true,
        reason,
        at: now(),
      },
      workspaceId,
    );
  }
}

/**
 * Why the workspace may no longer exist (`user_removed`, `user_rejected`, `tenant_deleted`), or
 * undefined while it may: read from the user's and the tenant's own streams, which hold a removal or
 * a deletion as soon as it is appended, so a workspace requested just before it (its request checked
 * first) or placed while the removal's deprovisioning ran elsewhere is caught here before an agent is
 * asked.
 */
async function whyGone(ctx: Ctx, state: WorkspaceState): Promise<string | undefined> {
  const [user, tenant] = await Promise.all([
    load(ctx.store, userStreamId(state.userId), userDecider),
    tenantStatus(ctx.store, state.tenantId),
  ]);
  if (tenant === 'deleted') return 'tenant_deleted';
  if (isLive(user.state) && user.state.tenantId === state.tenantId) return undefined;
  return user.state.status === 'rejected' ? 'user_rejected' : 'user_removed';
}

/** Deletes the workspace when its user or tenant is gone (see `whyGone`): true when it did. */
async function deletedAsGone(ctx: Ctx, state: WorkspaceState): Promise<boolean> {
  const reason = await whyGone(ctx, state);
  if (reason === undefined) return false;
  const actor = { userId: `process:${NAME}`, manager: true };
  await issue(ctx, state.workspaceId, {
    type: 'DeleteWorkspace',
    actor,
    deleteData: true,
    reason,
    at: now(),
  });
  return true;
}

/** Places the workspace (not on `exclude`), unless its user or tenant is gone: then it is deleted instead. */
async function placeOrDelete(ctx: Ctx, state: WorkspaceState, exclude: string | undefined, noRoom: string) {
  if (await deletedAsGone(ctx, state)) return;
  const agentId = await place(ctx, state, exclude);
  if (!agentId) return fail(ctx, state, 'place', noRoom);
  return issue(ctx, state.workspaceId, { type: 'PlaceWorkspace', agentId, at: now() });
}

/**
 * The provisioning saga, driven by the workspace's own events: requested → placed (by free capacity
 * and the admin's choice) → container created (named after the workspace, so a retry finds it) →
 * started → route published → ready; stop and start; deletion in reverse (route withdrawn, container
 * removed, deleted, quota slot released). A failed step compensates: the half-made container is
 * removed, and the routes read model drops the workspace's route. Every agent call is idempotent and
 * every recorded step too, so re-handling an event after a crash (SIGKILL at any point) repeats the
 * call harmlessly and appends nothing twice.
 *
 * Removals end workspaces too: a user removed from the tenant (identity's `UserRemoved`) or rejected
 * while waiting for approval (`UserRejected`) loses theirs, and a deleted tenant (`TenantDeleted`)
 * loses all of them, and its image registry credentials with them, so nothing of a deleted tenant
 * keeps running, answering on its routes or holding a secret. Neither order of handling lets a
 * workspace asked for around a removal survive it: the removal finds every slot claimed before it
 * is handled (on the quota stream, not a lagging read model), and the saga asks the user's stream
 * before every placement, so a workspace claimed after that is deleted instead of placed.
 */
export const workspaceProvisioning = defineProcessManager<
  WorkspacesReadTables,
  WorkspaceEvent | UserGone | TenantDeleted,
  Prepared
>({
  name: NAME,
  types: [
    'UserRemoved',
    'UserRejected',
    'TenantDeleted',
    'WorkspaceRequested',
    'WorkspacePlaced',
    'WorkspaceContainerCreated',
    'WorkspaceContainerStarted',
    'WorkspaceRoutePublished',
    'WorkspaceProvisioningFailed',
    'WorkspaceUnavailable',
    'WorkspaceAgentReturned',
    'WorkspaceContainerLost',
    'WorkspaceStopRequested',
    'WorkspaceStartRequested',
    'WorkspaceDeletionRequested',
    'WorkspaceRouteWithdrawn',
    'WorkspaceContainerRemoved',
    'WorkspaceDeleted',
  ],
  prepare: prepareStep,
  async handle(event, ctx, prepared) {
    if (event.type === 'UserRemoved' || event.type === 'UserRejected') {
      const reason = event.type === 'UserRemoved' ? 'user_removed' : 'user_rejected';
      return deprovision(ctx, event.data.tenantId, event.data.userId, reason);
    }
    if (event.type === 'TenantDeleted') {
      await dropImageRegistry(ctx.db, event.data.tenantId);
      return deprovision(ctx, event.data.tenantId, undefined, 'tenant_deleted');
    }
    const { workspaceId } = event.data;
    if (AGENT_STEPS.has(event.type)) {
      // The runtime ran `prepare` before this transaction opened; a direct caller gets it run here.
      const outcome = prepared ?? (await prepareStep(event, ctx));
      if (outcome.kind === 'none') return;
      // Recorded only on the workspace as the agent's work saw it: a stop or a deletion that came
      // in meanwhile has its own events, whose handling does the work that then applies.
      const { state } = await load(ctx.store, workspaceStreamId(workspaceId), workspaceDecider);
      if (!state.exists || state.status !== outcome.status || state.agentId !== outcome.agentId) {
        ctx.logger.info(
          { workspaceId, event: event.type, was: outcome.status, now: state.status },
          'workspace moved on while the agent worked: nothing recorded',
        );
        return;
      }
      // Several commands to the same stream for one event: each needs a key of its own, or the
      // second would derive the first's command id and be taken for its repeat.
      const { commands, failure } = outcome;
      for (const [at, command] of commands.entries()) {
        await issue(ctx, workspaceId, command, at === 0 ? undefined : `step-${at}`);
      }
      if (failure) {
        const key = commands.length === 0 ? undefined : `step-${commands.length}`;
        await issue(ctx, workspaceId, { type: 'FailProvisioning', ...failure, at: now() }, key);
      }
      return;
    }
    const { state } = await load(ctx.store, workspaceStreamId(workspaceId), workspaceDecider);
    if (!state.exists) return;
    switch (event.type) {
      case 'WorkspaceRequested': {
        if (state.status !== 'requested') return;
        const { cpus, memoryMb } = state.resources;
        return placeOrDelete(ctx, state, undefined, `no agent has ${cpus} CPUs and ${memoryMb} MB free`);
      }
      case 'WorkspaceUnavailable': {
        // Policy `recreate`: on another agent (its data, unless on shared storage, is lost with the host);
        // `wait`: it stays unavailable until the agent answers again (the heartbeat monitor says so).
        if (state.status !== 'unavailable' || state.lost !== 'agent') return;
        const policy = await load(ctx.store, settingsStreamId(state.tenantId), workspaceSettingsDecider);
        if (policy.state.loss.onAgentLoss === 'wait') return;
        const noRoom = 'its agent is lost and no other agent has room';
        return placeOrDelete(ctx, state, event.data.agentId, noRoom);
      }
      case 'WorkspaceContainerLost': {
        // Policy `recreate`: a new container on the same agent (its slot is kept), named as before;
        // `mark`: failed with the reason, no repair.
        if (state.status !== 'unavailable' || state.lost !== 'container' || !state.agentId) return;
        const policy = await load(ctx.store, settingsStreamId(state.tenantId), workspaceSettingsDecider);
        if (policy.state.loss.onContainerLost === 'mark') {
          return fail(ctx, state, 'create', 'container vanished');
        }
        if (await deletedAsGone(ctx, state)) return;
        return issue(ctx, workspaceId, { type: 'PlaceWorkspace', agentId: state.agentId, at: now() });
      }
      case 'WorkspaceRoutePublished':
        if (state.status !== 'routed') return;
        return issue(ctx, workspaceId, { type: 'MarkReady', at: now() });
      case 'WorkspaceDeletionRequested':
        if (state.status !== 'deleting') return;
        return issue(ctx, workspaceId, { type: 'RecordRouteWithdrawn', at: now() });
      case 'WorkspaceContainerRemoved':
        if (state.status !== 'deleting') return;
        return issue(ctx, workspaceId, { type: 'MarkDeleted', at: now() });
      case 'WorkspaceDeleted':
        await ctx.issue(
          quotaStreamId(state.tenantId),
          quotaDecider,
          {
            type: 'ReleaseWorkspaceSlot',
            tenantId: state.tenantId,
            workspaceId,
            at: now(),
          },
          { maxAttempts: 100 },
        );
        return;
      default:
        return;
    }
  },
});
