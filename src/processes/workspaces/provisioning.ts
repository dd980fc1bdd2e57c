import type { IdentityEvent } from '../../commands/identity/index.ts';
import { isDomainError, load } from '../../commands/kernel/index.ts';
import {
  agentUsageOf,
  containerNameOf,
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
import type { RecordedEvent } from '../../eventstore/port.ts';
import { listAgents, type WorkspacesReadTables } from '../../projections/workspaces/index.ts';
import {
  AgentCallError,
  type AgentClient,
  type AgentRegistryAuth,
  agentClient,
  agentKeys,
  imageRegistries,
} from '../../workspaces/index.ts';
import { defineProcessManager, type PrepareContext, type ProcessContext, viewAs } from '../runtime/index.ts';

const NAME = 'workspaceProvisioning';

type UserRemoved = Extract<IdentityEvent, { type: 'UserRemoved' }>;

type Ctx = ProcessContext<WorkspacesReadTables>;

/** A failure the agent reports about the request itself (4xx): retrying will not help. */
const permanent = (error: unknown) =>
  error instanceof AgentCallError && error.status >= 400 && error.status < 500;

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
 * The tenant registry's credentials when the image is named by its host (an image the tenant pushed
 * there): the agent pulls with them if its host lacks the image. Opened only to be signed into the
 * call; a read, so it runs in `prepare` outside any transaction.
 */
async function registryAuthFor(
  ctx: PrepareContext<WorkspacesReadTables>,
  tenantId: string,
  image: string,
): Promise<AgentRegistryAuth | undefined> {
  if (!ctx.sealer) return undefined;
  const credentials = await imageRegistries(viewAs<unknown>(ctx.db), ctx.sealer).credentials(tenantId);
  if (!credentials || !image.startsWith(`${credentials.host}/`)) return undefined;
  if (!credentials.username && !credentials.password) return undefined;
  return { username: credentials.username, password: credentials.password, server_address: credentials.host };
}

/**
 * The agent's client. Reads only (the agent list, its sealed key), so it works outside any
 * transaction in `prepare`; the one write, sealing a key stored before keys were sealed, is a
 * single conditional statement that changes nothing when repeated.
 */
async function clientFor(
  ctx: PrepareContext<WorkspacesReadTables>,
  tenantId: string,
  agentId: string,
): Promise<AgentClient | undefined> {
  const agents = await listAgents(ctx.db, tenantId);
  const agent = agents.find((a) => a.id === agentId);
  if (!ctx.sealer) throw new Error('workspace provisioning needs the worker to be given a sealer');
  const key = await agentKeys(viewAs<unknown>(ctx.db), ctx.sealer).get(agentId);
  if (!agent || !key) return undefined;
  return agentClient({ url: agent.url, key, timeoutMs: 20_000 });
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
 * What `prepare` did with the agent for an event, for `handle` to record in the transaction: a
 * command for the workspace, a failure, or nothing (the event asks for no agent work now, or the
 * work needs no record, as a compensation's removal).
 */
type Prepared =
  | { kind: 'none' }
  | ({ kind: 'record'; command: WorkspaceCommand } & Seen)
  | ({ kind: 'fail'; step: ProvisioningStep; reason: string } & Seen);

/** The workspace as `prepare` saw it: `handle` records the outcome only if it is still so. */
interface Seen {
  status: WorkspaceState['status'];
  agentId: string | null;
}

const nothing: Prepared = { kind: 'none' };

/**
 * Runs one step of the agent's work; a permanent refusal becomes a failure with the agent's reason,
 * a transient failure (agent unreachable, 5xx) is thrown so the runtime retries the event.
 */
async function onAgent(
  ctx: PrepareContext<WorkspacesReadTables>,
  state: WorkspaceState,
  step: ProvisioningStep,
  work: (client: AgentClient) => Promise<WorkspaceCommand | undefined>,
): Promise<Prepared> {
  const seen = seenIn(state);
  if (!state.agentId) return { kind: 'fail', step, reason: 'the workspace has no agent', ...seen };
  const client = await clientFor(ctx, state.tenantId, state.agentId);
  if (!client) {
    return { kind: 'fail', step, reason: `the agent ${state.agentId} is not registered any more`, ...seen };
  }
  let command: WorkspaceCommand | undefined;
  try {
    command = await work(client);
  } catch (error) {
    if (!permanent(error)) throw error;
    return { kind: 'fail', step, reason: (error as Error).message, ...seen };
  }
  return command ? { kind: 'record', command, ...seen } : nothing;
}

const seenIn = (state: WorkspaceState): Seen => ({ status: state.status, agentId: state.agentId });

/** The saga's events whose step is the agent's work (done in `prepare`, recorded in `handle`). */
const AGENT_STEPS = new Set<string>([
  'WorkspaceAgentReturned',
  'WorkspacePlaced',
  'WorkspaceContainerCreated',
  'WorkspaceContainerStarted',
  'WorkspaceProvisioningFailed',
  'WorkspaceStopRequested',
  'WorkspaceStartRequested',
  'WorkspaceRouteWithdrawn',
]);

/**
 * The agent's work for one event, outside any transaction (the runtime's `prepare` phase): on the
 * workspace's state as stored now, the container create/start/stop/remove or the port lookup, which
 * take seconds under load. Every call is idempotent by the container's name (create finds the one
 * it made, start/stop/remove of one already so succeed), so running it again after a crash, a lost
 * lease or a failed commit is harmless; `handle` records the outcome through the decider, which
 * refuses it if the workspace moved on meanwhile.
 */
async function prepareStep(
  event: RecordedEvent & (WorkspaceEvent | UserRemoved),
  ctx: PrepareContext<WorkspacesReadTables>,
): Promise<Prepared> {
  if (event.type === 'UserRemoved' || !AGENT_STEPS.has(event.type)) return nothing;
  const { workspaceId } = event.data;
  const { state } = await load(ctx.store, workspaceStreamId(workspaceId), workspaceDecider);
  if (!state.exists) return nothing;
  const name = containerNameOf(workspaceId);
  switch (event.type) {
    case 'WorkspaceAgentReturned':
      // Its agent answers again: the container is still there; start it (idempotent) and route it anew.
      if (state.status !== 'starting') return nothing;
      return onAgent(ctx, state, 'start', async (client) => {
        await client.start(name);
        return { type: 'RecordContainerStarted', at: now() };
      });
    case 'WorkspacePlaced':
      if (state.status !== 'placed') return nothing;
      return onAgent(ctx, state, 'create', async (client) => {
        const registryAuth = await registryAuthFor(ctx, state.tenantId, state.image);
        const created = await client.create({
          name,
          image: state.image,
          ...(registryAuth ? { registry_auth: registryAuth } : {}),
          ports: state.ports,
          cpus: state.resources.cpus,
          memory_mb: state.resources.memoryMb,
          labels: {
            'warden.workspace': workspaceId,
            'warden.tenant': state.tenantId,
            'warden.user': state.userId,
          },
        });
        return { type: 'RecordContainerCreated', containerName: name, containerId: created.id, at: now() };
      });
    case 'WorkspaceContainerCreated':
      if (state.status !== 'created') return nothing;
      return onAgent(ctx, state, 'start', async (client) => {
        await client.start(name);
        return { type: 'RecordContainerStarted', at: now() };
      });
    case 'WorkspaceContainerStarted':
      if (state.status !== 'started') return nothing;
      return onAgent(ctx, state, 'route', async (client) => {
        const ports = await client.ports(name);
        const first = ports.find((p) => p.container_port === state.ports[0]) ?? ports[0];
        if (!first)
          throw new AgentCallError(409, 'no-port', `the container publishes no port for ${state.ports[0]}`);
        const host = first.host_ip === '0.0.0.0' ? '127.0.0.1' : first.host_ip;
        return { type: 'PublishRoute', upstream: `${host}:${first.host_port}`, at: now() };
      });
    case 'WorkspaceProvisioningFailed':
      // Compensation: no half-made container stays behind (the route is dropped by the read model).
      if (state.status !== 'failed' || !state.agentId) return nothing;
      return onAgent(ctx, state, event.data.step, async (client) => {
        await client.remove(name, { volumes: true });
        return undefined;
      });
    case 'WorkspaceStopRequested':
      if (state.status !== 'stopping') return nothing;
      return onAgent(ctx, state, 'stop', async (client) => {
        await client.stop(name);
        return { type: 'RecordStopped', at: now() };
      });
    case 'WorkspaceStartRequested':
      if (state.status !== 'starting') return nothing;
      return onAgent(ctx, state, 'start', async (client) => {
        await client.start(name);
        return { type: 'RecordContainerStarted', at: now() };
      });
    case 'WorkspaceRouteWithdrawn': {
      if (state.status !== 'deleting') return nothing;
      if (state.agentId) {
        const client = await clientFor(ctx, state.tenantId, state.agentId);
        if (client) await client.remove(name, { volumes: state.deleteData });
      }
      return { kind: 'record', command: { type: 'RecordContainerRemoved', at: now() }, ...seenIn(state) };
    }
    default:
      return nothing;
  }
}

/** A user removed from the tenant (identity's `UserRemoved`) loses their workspaces: each is deleted. */
async function deprovisionUser(event: RecordedEvent & UserRemoved, ctx: Ctx) {
  const { tenantId, userId } = event.data;
  const rows = await ctx.db
    .selectFrom('workspace_list')
    .select(['id'])
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .execute();
  for (const row of rows) {
    await issue(
      ctx,
      row.id,
      {
        type: 'DeleteWorkspace',
        actor: { userId: `process:${NAME}`, manager: true },
        deleteData: true,
        reason: 'user_removed',
        at: now(),
      },
      row.id,
    );
  }
}

/**
 * The provisioning saga, driven by the workspace's own events: requested → placed (by free capacity
 * and the admin's choice) → container created (named after the workspace, so a retry finds it) →
 * started → route published → ready; stop and start; deletion in reverse (route withdrawn, container
 * removed, deleted, quota slot released). A failed step compensates: the half-made container is
 * removed, and the routes read model drops the workspace's route. Every agent call is idempotent and
 * every recorded step too, so re-handling an event after a crash (SIGKILL at any point) repeats the
 * call harmlessly and appends nothing twice.
 */
export const workspaceProvisioning = defineProcessManager<
  WorkspacesReadTables,
  WorkspaceEvent | UserRemoved,
  Prepared
>({
  name: NAME,
  types: [
    'UserRemoved',
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
    if (event.type === 'UserRemoved') return deprovisionUser(event, ctx);
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
      if (outcome.kind === 'record') return issue(ctx, workspaceId, outcome.command);
      return fail(ctx, state, outcome.step, outcome.reason);
    }
    const { state } = await load(ctx.store, workspaceStreamId(workspaceId), workspaceDecider);
    if (!state.exists) return;
    switch (event.type) {
      case 'WorkspaceRequested': {
        if (state.status !== 'requested') return;
        const agentId = await place(ctx, state);
        if (!agentId) {
          return fail(
            ctx,
            state,
            'place',
            `no agent has ${state.resources.cpus} CPUs and ${state.resources.memoryMb} MB free`,
          );
        }
        return issue(ctx, workspaceId, { type: 'PlaceWorkspace', agentId, at: now() });
      }
      case 'WorkspaceUnavailable': {
        // Policy `recreate`: on another agent (its data, unless on shared storage, is lost with the host);
        // `wait`: it stays unavailable until the agent answers again (the heartbeat monitor says so).
        if (state.status !== 'unavailable' || state.lost !== 'agent') return;
        const policy = await load(ctx.store, settingsStreamId(state.tenantId), workspaceSettingsDecider);
        if (policy.state.loss.onAgentLoss === 'wait') return;
        const agentId = await place(ctx, state, event.data.agentId);
        if (!agentId) return fail(ctx, state, 'place', 'its agent is lost and no other agent has room');
        return issue(ctx, workspaceId, { type: 'PlaceWorkspace', agentId, at: now() });
      }
      case 'WorkspaceContainerLost': {
        // Policy `recreate`: a new container on the same agent (its slot is kept), named as before;
        // `mark`: failed with the reason, no repair.
        if (state.status !== 'unavailable' || state.lost !== 'container' || !state.agentId) return;
        const policy = await load(ctx.store, settingsStreamId(state.tenantId), workspaceSettingsDecider);
        if (policy.state.loss.onContainerLost === 'mark') {
          return fail(ctx, state, 'create', 'container vanished');
        }
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
