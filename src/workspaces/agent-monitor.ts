import type { Kysely } from 'kysely';
import PQueue from 'p-queue';
import { changeWorkspace } from '../commands/workspaces/index.ts';
import type { EventStore } from '../eventstore/port.ts';
import type { Logger } from '../logger.ts';
import type { WorkspacesReadTables } from '../projections/workspaces/index.ts';
import { agentHeartbeats } from './agent-heartbeats.ts';
import type { AgentKeys } from './agent-keys.ts';
import { agentClient } from './client/agent-client.ts';

export interface AgentMonitorOptions {
  db: Kysely<unknown>;
  store: EventStore;
  clock: () => Date;
  /** An agent silent (no answer to a signed health call) for longer than this is lost. */
  silentAfterMs: number;
  /** How often every agent is asked (default a third of `silentAfterMs`). */
  intervalMs?: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Where the agents' keys are read (sealed with the key-encryption key). */
  keys: AgentKeys;
}

/** Agents asked at once in a round. */
const AGENTS_AT_ONCE = 16;

/** Statuses in which a workspace lives on its agent, and is lost with it. */
const ON_AGENT = ['created', 'started', 'routed', 'ready', 'stopping', 'stopped', 'starting'] as const;

/**
 * Heartbeats: asks every registered agent for its health on a timer and records when each last
 * answered in `warden_agent_heartbeats` (every process reads the same times; a monitor taking over
 * from another continues from them). An agent silent past the bound is lost: each of its workspaces
 * is marked `unavailable` (its route answers the 503 page), and the provisioning saga recreates it
 * on another agent.
 */
export class AgentMonitor {
  /** Agents never heard from: the bound counts from when this monitor first asked them. */
  readonly #firstAsked = new Map<string, Date>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: AgentMonitorOptions) {}

  /**
   * One round: returns the agents found lost in it. Agents are asked at the same time (at most
   * `AGENTS_AT_ONCE`): one after another, every silent agent would hold the round for its whole
   * timeout, delaying the heartbeats of those behind it past their own bound.
   */
  async check(): Promise<string[]> {
    const db = this.options.db as Kysely<WorkspacesReadTables>;
    const heartbeats = agentHeartbeats(this.options.db);
    const agents = await db.selectFrom('workspace_agents').select(['id', 'url', 'tenant_id']).execute();
    const lastSeen = await heartbeats.lastSeen(agents.map((agent) => agent.id));
    const lost: string[] = [];
    const queue = new PQueue({ concurrency: AGENTS_AT_ONCE });
    await queue.addAll(
      agents.map((agent) => async () => {
        if (await this.#checkOne(agent, lastSeen.get(agent.id), heartbeats)) lost.push(agent.id);
      }),
    );
    return lost.sort();
  }

  /** Asks one agent; true when it is lost in this round (silent past the bound, with workspaces on it). */
  async #checkOne(
    agent: { id: string; url: string; tenant_id: string },
    lastSeen: Date | undefined,
    heartbeats: ReturnType<typeof agentHeartbeats>,
  ): Promise<boolean> {
    const db = this.options.db as Kysely<WorkspacesReadTables>;
    const key = await this.options.keys.get(agent.id);
    const answered =
      key !== undefined &&
      (await agentClient({ url: agent.url, key, timeoutMs: Math.min(5_000, this.options.silentAfterMs) })
        .health()
        .then(
          () => true,
          () => false,
        ));
    const now = this.options.clock();
    if (answered) {
      await heartbeats.record(agent.tenant_id, agent.id, now);
      this.#firstAsked.delete(agent.id);
      await this.#returned(agent.tenant_id, agent.id, now);
      return false;
    }
    const since = lastSeen ?? this.#firstAsked.get(agent.id);
    if (since === undefined) {
      // Never heard from: the bound counts from now.
      this.#firstAsked.set(agent.id, now);
      return false;
    }
    if (now.getTime() - since.getTime() <= this.options.silentAfterMs) return false;
    const workspaces = await db
      .selectFrom('workspace_list')
      .select(['id'])
      .where('agent_id', '=', agent.id)
      .where('status', 'in', [...ON_AGENT])
      .execute();
    if (workspaces.length === 0) return false;
    this.options.logger.warn(
      { agentId: agent.id, workspaces: workspaces.length },
      'agent lost: its workspaces are unavailable',
    );
    for (const workspace of workspaces) {
      await changeWorkspace(
        this.options.store,
        agent.tenant_id,
        workspace.id,
        {
          type: 'MarkUnavailable',
          reason: `agent ${agent.id} silent since ${since.toISOString()}`,
          at: now.toISOString(),
        },
        { metadata: { tenantId: agent.tenant_id, actorId: 'process:agentMonitor' } },
      ).catch((error: unknown) =>
        this.options.logger.error({ err: error, workspaceId: workspace.id }, 'marking unavailable failed'),
      );
    }
    return true;
  }

  /**
   * The agent answers: its workspaces still `unavailable` (policy `wait`; the decider ignores those
   * whose container vanished) come back, their containers started and routed anew by the saga.
   */
  async #returned(tenantId: string, agentId: string, now: Date): Promise<void> {
    const db = this.options.db as Kysely<WorkspacesReadTables>;
    const waiting = await db
      .selectFrom('workspace_list')
      .select(['id'])
      .where('agent_id', '=', agentId)
      .where('status', '=', 'unavailable')
      .execute();
    for (const workspace of waiting) {
      await changeWorkspace(
        this.options.store,
        tenantId,
        workspace.id,
        { type: 'RecordAgentReturned', at: now.toISOString() },
        { metadata: { tenantId, actorId: 'process:agentMonitor' } },
      ).catch((error: unknown) =>
        this.options.logger.error({ err: error, workspaceId: workspace.id }, 'recording agent back failed'),
      );
    }
    if (waiting.length > 0) {
      this.options.logger.info({ agentId, workspaces: waiting.length }, 'agent answers again');
    }
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(
      () => {
        this.#running = this.#running.then(() =>
          this.check().catch((error: unknown) =>
            this.options.logger.error({ err: error }, 'agent heartbeat round failed'),
          ),
        );
      },
      this.options.intervalMs ?? Math.max(100, Math.floor(this.options.silentAfterMs / 3)),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
