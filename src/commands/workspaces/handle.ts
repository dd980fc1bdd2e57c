import type { CommandStore as EventStore } from '../kernel/index.ts';
import {
  aggregate,
  type CommandContext,
  type CommandResult,
  existsInTenant,
  handle,
  load,
  notFound,
} from '../kernel/index.ts';
import { type AgentCommand, type AgentState, agentDecider } from './agent.ts';
import { agentStreamId, quotaStreamId, settingsStreamId, workspaceStreamId } from './events.ts';
import { type PlacementRequest, quotaDecider } from './quota.ts';
import {
  type WorkspaceSettingsCommand,
  type WorkspaceSettingsState,
  workspaceSettingsDecider,
} from './settings.ts';
import { type WorkspaceCommand, type WorkspaceState, workspaceDecider } from './workspace.ts';

/** Concurrent requests in one tenant all append to its quota stream: each retries until it decides. */
const QUOTA_ATTEMPTS = 100;

/** Agents and workspaces: the tenant check and NOT_FOUND once, in the kernel's `aggregate`. */
const agents = aggregate({
  decider: agentDecider,
  streamId: agentStreamId,
  what: 'agent',
  visibleTo: (state, tenantId) => existsInTenant(state, tenantId) && !state.removed,
});
const workspaces = aggregate({
  decider: workspaceDecider,
  streamId: workspaceStreamId,
  what: 'workspace',
  visibleTo: existsInTenant,
});

export const findAgent = agents.find;

export function registerAgent(
  store: EventStore,
  input: Omit<Extract<AgentCommand, { type: 'RegisterAgent' }>, 'type'>,
  context: CommandContext,
): Promise<CommandResult<AgentState>> {
  return agents.create(store, input.agentId, { type: 'RegisterAgent', ...input }, context);
}

export function deregisterAgent(
  store: EventStore,
  tenantId: string,
  agentId: string,
  change: { at: string; by: string },
  context: CommandContext,
): Promise<CommandResult<AgentState>> {
  return agents.change(store, tenantId, agentId, { type: 'DeregisterAgent', ...change }, context);
}

export const findWorkspace = workspaces.find;

export type RequestWorkspaceInput = Omit<Extract<WorkspaceCommand, { type: 'RequestWorkspace' }>, 'type'> & {
  /** The plan's `workspaces` limit (null: unlimited). */
  limit: number | null;
};

/**
 * The tenant's quota and "one workspace per user" as the claim would decide them now, appending
 * nothing: the request answers these (409 with the numbers) before it asks any agent about the
 * image. The claim itself decides again, under concurrency.
 */
export async function assertWorkspaceSlotFree(
  store: EventStore,
  input: { tenantId: string; workspaceId: string; userId: string; limit: number | null; at: string },
): Promise<void> {
  const { state } = await load(store, quotaStreamId(input.tenantId), quotaDecider);
  quotaDecider.decide({ type: 'ClaimWorkspaceSlot', ...input }, state);
}

/**
 * Takes a slot of the tenant's quota (refused 409 when the plan's limit is reached or the user
 * already has a workspace, whatever runs concurrently) and, when an agent is chosen, its room on that
 * agent in the same append (refused 409 with the numbers when it does not fit; an unknown agent is a
 * 404 naming it), then opens the workspace's stream.
 */
export async function requestWorkspace(
  store: EventStore,
  input: RequestWorkspaceInput,
  context: CommandContext,
): Promise<CommandResult<WorkspaceState>> {
  const { limit, ...request } = input;
  let placement: PlacementRequest | undefined;
  if (input.agentId !== null) {
    const agent = await findAgent(store, input.tenantId, input.agentId);
    if (!agent) throw notFound(`agent ${input.agentId}`);
    placement = {
      agentId: agent.state.agentId,
      agentName: agent.state.name,
      capacity: agent.state.capacity,
      resources: input.resources,
    };
  }
  await handle(
    store,
    quotaStreamId(input.tenantId),
    quotaDecider,
    {
      type: 'ClaimWorkspaceSlot',
      tenantId: input.tenantId,
      workspaceId: input.workspaceId,
      userId: input.userId,
      limit,
      ...(placement ? { placement } : {}),
      at: input.at,
    },
    { ...context, maxAttempts: QUOTA_ATTEMPTS },
  );
  return handle(
    store,
    workspaceStreamId(input.workspaceId),
    workspaceDecider,
    { type: 'RequestWorkspace', ...request },
    context,
  );
}

/** A change to a workspace of this tenant; another tenant's workspace is a 404. */
export function changeWorkspace(
  store: EventStore,
  tenantId: string,
  workspaceId: string,
  command: Exclude<WorkspaceCommand, { type: 'RequestWorkspace' }>,
  context: CommandContext,
): Promise<CommandResult<WorkspaceState>> {
  return workspaces.change(store, tenantId, workspaceId, command, context);
}

/** Gives the workspace's quota slot back (after deletion or a failed provisioning). */
export async function releaseWorkspaceSlot(
  store: EventStore,
  tenantId: string,
  workspaceId: string,
  at: string,
  context: CommandContext,
): Promise<void> {
  await handle(
    store,
    quotaStreamId(tenantId),
    quotaDecider,
    { type: 'ReleaseWorkspaceSlot', tenantId, workspaceId, at },
    { ...context, maxAttempts: QUOTA_ATTEMPTS },
  );
}

export async function loadWorkspaceSettings(
  store: EventStore,
  tenantId: string,
): Promise<{ state: WorkspaceSettingsState; revision: number }> {
  const loaded = await load(store, settingsStreamId(tenantId), workspaceSettingsDecider);
  return { state: loaded.state, revision: loaded.revision };
}

/** Sets the tenant's "workspace on approval" setting (the same setting again appends nothing). */
export function setWorkspaceOnApproval(
  store: EventStore,
  input: Omit<Extract<WorkspaceSettingsCommand, { type: 'SetWorkspaceOnApproval' }>, 'type'>,
  context: CommandContext,
): Promise<CommandResult<WorkspaceSettingsState>> {
  return handle(
    store,
    settingsStreamId(input.tenantId),
    workspaceSettingsDecider,
    { type: 'SetWorkspaceOnApproval', ...input },
    context,
  );
}

/** Sets the tenant's loss policy (agent lost, container vanished); the same policy again appends nothing. */
export function setWorkspaceLossPolicy(
  store: EventStore,
  input: Omit<Extract<WorkspaceSettingsCommand, { type: 'SetWorkspaceLossPolicy' }>, 'type'>,
  context: CommandContext,
): Promise<CommandResult<WorkspaceSettingsState>> {
  return handle(
    store,
    settingsStreamId(input.tenantId),
    workspaceSettingsDecider,
    { type: 'SetWorkspaceLossPolicy', ...input },
    context,
  );
}
