import type { IdentityEvent } from '../../commands/identity/index.ts';
import { load } from '../../commands/kernel/index.ts';
import {
  containerNameOf,
  type ProvisioningStep,
  type WorkspaceCommand,
  type WorkspaceEvent,
  type WorkspaceState,
  workspaceDecider,
  workspaceStreamId,
} from '../../commands/workspaces/index.ts';
import type { RecordedEvent } from '../../eventstore/port.ts';
import { listAgents, type WorkspacesReadTables } from '../../projections/workspaces/index.ts';
import {
  AgentCallError,
  type AgentClient,
  type AgentContainer,
  type AgentRegistryAuth,
  agentAddresses,
  agentClient,
  agentKeys,
  agentUpstream,
  imageRegistries,
} from '../../workspaces/index.ts';
import { type PrepareContext, viewAs } from '../runtime/index.ts';

/* The provisioning saga's agent work, done in the runtime's `prepare` phase outside any transaction. */

type UserGone = Extract<IdentityEvent, { type: 'UserRemoved' | 'UserRejected' }>;
type PCtx = PrepareContext<WorkspacesReadTables>;

/** A failure the agent reports about the request itself (4xx): retrying will not help. */
const permanent = (error: unknown) =>
  error instanceof AgentCallError && error.status >= 400 && error.status < 500;

/**
 * Attempts at one event's agent work before a transient failure (unreachable, 5xx, a timeout) counts
 * as for good. The runtime retries a failing event backing off (0.2 s doubling, at most 30 s: about
 * 25 s of waiting over these eight) while the events behind it in its partition wait, other tenants'
 * workspaces among them; an agent is its tenant's, so one that never answers must not hold them for
 * longer than this. An agent that comes back later gets its workspaces back through the agent
 * monitor (`WorkspaceAgentReturned`), and the reconciler removes what a given-up step left behind.
 */
export const AGENT_ATTEMPTS = 8;

/** Whether a failure of the agent's work is for good at this attempt. */
const givenUp = (ctx: Pick<PCtx, 'attempt'>, error: unknown) =>
  permanent(error) || (ctx.attempt ?? 1) >= AGENT_ATTEMPTS;

/** The failure's reason as recorded: a transient one names the attempts it took. */
const reasonOf = (ctx: Pick<PCtx, 'attempt'>, error: unknown) =>
  permanent(error)
    ? (error as Error).message
    : `the agent did not answer after ${ctx.attempt ?? 1} attempts: ${(error as Error).message}`;

const now = () => new Date().toISOString();

/**
 * What `prepare` did with the agent for an event, for `handle` to record in the transaction: the
 * commands for the steps done, in order, then a failure if a step was refused for good; or nothing
 * (the event asks for no agent work now, or the work needs no record, as a compensation's removal).
 */
export type Prepared =
  | { kind: 'none' }
  | ({
      kind: 'record';
      commands: WorkspaceCommand[];
      failure?: { step: ProvisioningStep; reason: string };
    } & Seen);

/** The workspace as `prepare` saw it: `handle` records the outcome only if it is still so. */
interface Seen {
  status: WorkspaceState['status'];
  agentId: string | null;
}

const nothing: Prepared = { kind: 'none' };
const seenIn = (state: WorkspaceState): Seen => ({ status: state.status, agentId: state.agentId });

/**
 * The tenant registry's credentials when the image is named by its host (an image the tenant pushed
 * there): the agent pulls with them if its host lacks the image. Opened only to be signed into the
 * call; a read, so it runs in `prepare` outside any transaction.
 */
async function registryAuthFor(
  ctx: PCtx,
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
  ctx: PCtx,
  tenantId: string,
  agentId: string,
): Promise<(AgentClient & { url: string }) | undefined> {
  const agents = await listAgents(ctx.db, tenantId);
  const agent = agents.find((a) => a.id === agentId);
  if (!ctx.sealer) throw new Error('workspace provisioning needs the worker to be given a sealer');
  const key = await agentKeys(viewAs<unknown>(ctx.db), ctx.sealer).get(agentId);
  if (!agent || !key) return undefined;
  return { ...agentClient({ url: agent.url, key, timeoutMs: 20_000 }), url: agent.url };
}

/**
 * Runs the agent's work for one event; a permanent refusal becomes a failure with the agent's
 * reason, a transient failure (agent unreachable, 5xx) before any step is done is thrown so the
 * runtime retries the event.
 */
async function onAgent(
  ctx: PCtx,
  state: WorkspaceState,
  step: ProvisioningStep,
  work: (
    client: AgentClient & { url: string },
  ) => Promise<Omit<Extract<Prepared, { kind: 'record' }>, keyof Seen | 'kind'>>,
): Promise<Prepared> {
  const seen = seenIn(state);
  const failed = (reason: string): Prepared => ({
    kind: 'record',
    commands: [],
    failure: { step, reason },
    ...seen,
  });
  if (!state.agentId) return failed('the workspace has no agent');
  const client = await clientFor(ctx, state.tenantId, state.agentId);
  if (!client) return failed(`the agent ${state.agentId} is not registered any more`);
  try {
    const outcome = await work(client);
    return outcome.commands.length === 0 && !outcome.failure
      ? nothing
      : { kind: 'record', ...outcome, ...seen };
  } catch (error) {
    if (!givenUp(ctx, error)) throw error;
    return failed(reasonOf(ctx, error));
  }
}

/** Where the chain of provisioning steps starts: the status the workspace is in. */
type From = 'placed' | 'created' | 'starting' | 'started';

/**
 * The provisioning steps from `from` to ready, one agent call after another in this one `prepare`:
 * create, start, read the published port, route, ready. Recorded together in one transaction, they
 * save a pickup and a handling transaction per step (a third of the time to ready under load). Each
 * call stays idempotent by the container's name, so a crash before the commit repeats them all
 * harmlessly. When a later step fails the steps done are still recorded: a transient failure then
 * leaves the next step to its own event (which retries it, backing off), a permanent one records
 * the failure after them, whose compensation removes the container.
 */
async function provision(ctx: PCtx, state: WorkspaceState, from: From): Promise<Prepared> {
  const name = containerNameOf(state.workspaceId);
  return onAgent(
    ctx,
    state,
    from === 'placed' ? 'create' : from === 'started' ? 'route' : 'start',
    async (client) => {
      const commands: WorkspaceCommand[] = [];
      let step: ProvisioningStep = 'create';
      try {
        if (from === 'placed') {
          const registryAuth = await registryAuthFor(ctx, state.tenantId, state.image);
          const created = await client.create({
            name,
            image: state.image,
            ...(registryAuth ? { registry_auth: registryAuth } : {}),
            ports: state.ports,
            cpus: state.resources.cpus,
            memory_mb: state.resources.memoryMb,
            labels: {
              'warden.workspace': state.workspaceId,
              'warden.tenant': state.tenantId,
              'warden.user': state.userId,
            },
          });
          commands.push({
            type: 'RecordContainerCreated',
            containerName: name,
            containerId: created.id,
            at: now(),
          });
        }
        let ports: AgentContainer['ports'] | undefined;
        if (from !== 'started') {
          step = 'start';
          // The agent answers a start with the container as it runs, published ports included.
          ports = (await client.start(name)).ports;
          commands.push({ type: 'RecordContainerStarted', at: now() });
        }
        step = 'route';
        // Read as the agent's claim it is: anything but a list of ports is a refusal, not a retry.
        const wanted = (list: unknown) => {
          if (!Array.isArray(list)) {
            throw new AgentCallError(422, 'bad-port', 'the agent answered no list of published ports');
          }
          const listed = (list as unknown[]).filter(
            (p): p is AgentContainer['ports'][number] => typeof p === 'object' && p !== null,
          );
          return listed.find((p) => p.container_port === state.ports[0]) ?? listed[0];
        };
        const first = (ports && wanted(ports)) ?? wanted(await client.ports(name));
        if (!first)
          throw new AgentCallError(409, 'no-port', `the container publishes no port for ${state.ports[0]}`);
        // The agent is its tenant's: what it says it published must be a port on its own host, or
        // nginx (every tenant's) would be pointed elsewhere, or refuse every tenant's routes.
        const addresses = await agentAddresses(client.url).catch((error: unknown) => {
          // Perhaps the resolver's moment: retried as an agent that did not answer is.
          throw new AgentCallError(503, 'unreachable', `the agent's name did not resolve: ${String(error)}`);
        });
        const route = agentUpstream(client.url, first, addresses);
        if ('refused' in route) throw new AgentCallError(422, 'bad-port', route.refused);
        commands.push({ type: 'PublishRoute', upstream: route.upstream, at: now() });
        commands.push({ type: 'MarkReady', at: now() });
        return { commands };
      } catch (error) {
        // Nothing done yet: `onAgent` fails the step or lets the runtime retry the event.
        if (commands.length === 0) throw error;
        if (!givenUp(ctx, error)) {
          ctx.logger.warn(
            { workspaceId: state.workspaceId, step, err: error },
            'provisioning step failed; the steps done are recorded and this one is retried',
          );
          return { commands };
        }
        return { commands, failure: { step, reason: reasonOf(ctx, error) } };
      }
    },
  );
}

/**
 * Removes the workspace's container from its agent (idempotent). An agent that refuses or does not
 * answer for `AGENT_ATTEMPTS` attempts keeps it, logged: the reconciler removes it as an orphan once
 * the agent answers again, and neither the compensation nor the deletion waits on it.
 */
async function removeContainer(ctx: PCtx, state: WorkspaceState, volumes: boolean): Promise<void> {
  if (!state.agentId) return;
  const client = await clientFor(ctx, state.tenantId, state.agentId);
  if (!client) return;
  await client.remove(containerNameOf(state.workspaceId), { volumes }).catch((error: unknown) => {
    if (!givenUp(ctx, error)) throw error;
    ctx.logger.warn(
      { workspaceId: state.workspaceId, agentId: state.agentId, err: error },
      'the agent did not remove the workspace’s container; the reconciler will once it answers',
    );
  });
}

/** The saga's events whose step is the agent's work (done in `prepare`, recorded in `handle`). */
export const AGENT_STEPS = new Set<string>([
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
export async function prepareStep(
  event: RecordedEvent & (WorkspaceEvent | UserGone),
  ctx: PCtx,
): Promise<Prepared> {
  if (event.type === 'UserRemoved' || event.type === 'UserRejected' || !AGENT_STEPS.has(event.type)) {
    return nothing;
  }
  const { workspaceId } = event.data;
  const { state } = await load(ctx.store, workspaceStreamId(workspaceId), workspaceDecider);
  if (!state.exists) return nothing;
  const name = containerNameOf(workspaceId);
  switch (event.type) {
    case 'WorkspaceAgentReturned':
      // Its agent answers again: the container is still there; start it (idempotent) and route it anew.
      return state.status === 'starting' ? provision(ctx, state, 'starting') : nothing;
    case 'WorkspacePlaced':
      return state.status === 'placed' ? provision(ctx, state, 'placed') : nothing;
    case 'WorkspaceContainerCreated':
      return state.status === 'created' ? provision(ctx, state, 'created') : nothing;
    case 'WorkspaceContainerStarted':
      return state.status === 'started' ? provision(ctx, state, 'started') : nothing;
    case 'WorkspaceStartRequested':
      return state.status === 'starting' ? provision(ctx, state, 'starting') : nothing;
    case 'WorkspaceProvisioningFailed':
      // Compensation: no half-made container stays behind (the route is dropped by the read model).
      if (state.status !== 'failed' || !state.agentId) return nothing;
      await removeContainer(ctx, state, true);
      return nothing;
    case 'WorkspaceStopRequested':
      if (state.status !== 'stopping') return nothing;
      return onAgent(ctx, state, 'stop', async (client) => {
        await client.stop(name);
        return { commands: [{ type: 'RecordStopped', at: now() }] };
      });
    case 'WorkspaceRouteWithdrawn': {
      if (state.status !== 'deleting') return nothing;
      await removeContainer(ctx, state, state.deleteData);
      return { kind: 'record', commands: [{ type: 'RecordContainerRemoved', at: now() }], ...seenIn(state) };
    }
    default:
      return nothing;
  }
}
