import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { cacheClock } from '../runtime/cache.ts';
import type { AgentKeys } from './agent-keys.ts';
import { AgentCallError, agentClient } from './client/agent-client.ts';

/** Where an agent is reached: enough to ask it, signed with its key. */
export interface AgentTarget {
  id: string;
  url: string;
}

/** An agent's resources as it reported them, or why it did not. */
export type AgentStats =
  | {
      status: 'ok';
      sampledAt: Date;
      cpu: { cores: number; load1: number };
      memory: { totalBytes: number; usedBytes: number };
      disk: { totalBytes: number; usedBytes: number };
      containers: { total: number; running: number };
    }
  | { status: 'unreachable'; sampledAt: Date; reason: string };

const count = z.number().int().min(0).max(2_147_483_647);
const bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const held = z
  .object({ total_bytes: bytes, free_bytes: bytes })
  .refine((part) => part.free_bytes <= part.total_bytes, { message: 'more free than in total' });

/**
 * `GET /v1/system` as an agent must answer it. An agent is its tenant's (any URL that enrols), so its
 * answer is read as a claim: numbers of their kind and size, or the agent is unreachable. Unchecked,
 * a fraction or a 300-digit number made the sampling round of every tenant's agents fail at its insert.
 */
const SystemAnswer = z.object({
  cpu: z.object({ cores: count, load1: z.number().min(0).max(1_000_000) }),
  memory: held,
  disk: held,
  containers: z.object({ total: count, running: count }),
});

export interface AgentStatsOptions {
  keys: Pick<AgentKeys, 'get'>;
  clock: () => Date;
  /** How long one agent may take to answer before its row says `unreachable`. */
  timeoutMs: number;
}

function why(error: unknown, timeoutMs: number): string {
  if (error instanceof AgentCallError) return `the agent answered ${error.status}: ${error.message}`;
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code === 'string') return `cannot connect (${code})`;
  return `cannot connect (${error instanceof Error ? error.message : String(error)})`;
}

/**
 * Asks one agent for its system statistics (the signed `GET /v1/system`), bounded by `timeoutMs`: a
 * dead, refusing or silent agent resolves to `unreachable` with the reason, never to an error and never
 * later than the bound (the timer covers the key lookup and the body too).
 */
export async function fetchAgentStats(agent: AgentTarget, options: AgentStatsOptions): Promise<AgentStats> {
  const { clock, timeoutMs } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<AgentStats>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({ status: 'unreachable', sampledAt: clock(), reason: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  const asked = (async (): Promise<AgentStats> => {
    const key = await options.keys.get(agent.id);
    if (key === undefined) {
      return { status: 'unreachable', sampledAt: clock(), reason: 'Warden holds no key for this agent' };
    }
    try {
      const answer = SystemAnswer.safeParse(await agentClient({ url: agent.url, key, timeoutMs }).system());
      if (!answer.success) {
        const issue = answer.error.issues[0];
        return {
          status: 'unreachable',
          sampledAt: clock(),
          reason: `the agent answered statistics that are not valid (${issue?.path.join('.')}: ${issue?.message})`,
        };
      }
      const system = answer.data;
      return {
        status: 'ok',
        sampledAt: clock(),
        cpu: { cores: system.cpu.cores, load1: system.cpu.load1 },
        memory: {
          totalBytes: system.memory.total_bytes,
          usedBytes: system.memory.total_bytes - system.memory.free_bytes,
        },
        disk: {
          totalBytes: system.disk.total_bytes,
          usedBytes: system.disk.total_bytes - system.disk.free_bytes,
        },
        containers: { total: system.containers.total, running: system.containers.running },
      };
    } catch (error) {
      return { status: 'unreachable', sampledAt: clock(), reason: why(error, timeoutMs) };
    }
  })();
  try {
    return await Promise.race([asked, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface AgentStatsReaderOptions extends AgentStatsOptions {
  /** How long an answer (or an agent's silence) is reused; 0 asks the agent on every read. */
  ttlMs: number;
  /** Agents remembered at most (least recently read out first). */
  max?: number;
}

/**
 * Agents' statistics for the API: each agent asked at most once per `ttlMs` (callers arriving while it
 * is being asked share that one call), every agent of a page asked in parallel, each bounded by
 * `timeoutMs`, so one slow or dead agent makes its own row `unreachable` and the page no slower than
 * the bound. An `unreachable` answer is cached like any other: a dead agent costs one timeout per TTL.
 *
 * A page that spent time before asking (authentication, its database reads) passes it as `spentMs`:
 * the agents get what is left of `timeoutMs`, so the page answers within the bound of its arrival
 * rather than after it, but never less than half of it, so a slow database does not make live agents
 * look dead.
 */
export function agentStatsReader(options: AgentStatsReaderOptions) {
  type Ask = { agent: AgentTarget; timeoutMs: number };
  const cache =
    options.ttlMs > 0
      ? new LRUCache<string, AgentStats, Ask>({
          max: options.max ?? 10_000,
          ttl: options.ttlMs,
          ...cacheClock(options.clock),
          fetchMethod: (_id, _stale, { context }) =>
            fetchAgentStats(context.agent, { ...options, timeoutMs: context.timeoutMs }),
        })
      : undefined;
  const budget = (spentMs = 0) => {
    const spent = Number.isFinite(spentMs) && spentMs > 0 ? spentMs : 0;
    return Math.round(Math.max(options.timeoutMs - spent, options.timeoutMs / 2));
  };
  const read = async (agent: AgentTarget, spentMs?: number): Promise<AgentStats> => {
    const timeoutMs = budget(spentMs);
    if (!cache) return fetchAgentStats(agent, { ...options, timeoutMs });
    // fetchAgentStats never rejects, and nothing aborts the fetch, so a value always arrives.
    return (await cache.fetch(agent.id, { context: { agent, timeoutMs } })) as AgentStats;
  };
  return {
    read,
    /** Every agent at once; the map is keyed by agent id. */
    async readAll(agents: readonly AgentTarget[], spentMs?: number): Promise<Map<string, AgentStats>> {
      const answers = await Promise.all(
        agents.map(async (agent) => [agent.id, await read(agent, spentMs)] as const),
      );
      return new Map(answers);
    },
    /** Drops what is known of an agent (it was deregistered, or its address changed). */
    forget(agentId: string): void {
      cache?.delete(agentId);
    },
  };
}

export type AgentStatsReader = ReturnType<typeof agentStatsReader>;
