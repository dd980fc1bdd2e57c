import type { Kysely } from 'kysely';
import type { AgentKeys } from './agent-keys.ts';
import { type AgentStats, fetchAgentStats } from './agent-stats.ts';

export interface AgentStatsSamplesTable {
  agent_id: string;
  tenant_id: string;
  sampled_at: Date;
  cpu_cores: number;
  cpu_load1: number;
  memory_total_bytes: string | number | bigint;
  memory_used_bytes: string | number | bigint;
  disk_total_bytes: string | number | bigint;
  disk_used_bytes: string | number | bigint;
  containers_running: number;
}

type Tables = {
  warden_agent_stats_samples: AgentStatsSamplesTable;
  workspace_agents: { id: string; tenant_id: string; url: string };
};

/** How long samples are kept: a day, enough for a sparkline of the last 24 hours. */
export const AGENT_STATS_RETENTION_MS = 24 * 60 * 60 * 1000;

export interface AgentStatsSample {
  sampledAt: Date;
  cpu: { cores: number; load1: number };
  memory: { totalBytes: number; usedBytes: number };
  disk: { totalBytes: number; usedBytes: number };
  containers: { running: number };
}

/** The history of agents' samples (migration 0021): recorded, read by agent and time, swept by age. */
export function agentStatsSamples(database: Kysely<unknown>) {
  const db = database as Kysely<Tables>;
  return {
    async record(tenantId: string, agentId: string, stats: Extract<AgentStats, { status: 'ok' }>) {
      await db
        .insertInto('warden_agent_stats_samples')
        .values({
          agent_id: agentId,
          tenant_id: tenantId,
          sampled_at: stats.sampledAt,
          cpu_cores: stats.cpu.cores,
          cpu_load1: stats.cpu.load1,
          memory_total_bytes: stats.memory.totalBytes,
          memory_used_bytes: stats.memory.usedBytes,
          disk_total_bytes: stats.disk.totalBytes,
          disk_used_bytes: stats.disk.usedBytes,
          containers_running: stats.containers.running,
        })
        .onConflict((oc) => oc.columns(['agent_id', 'sampled_at']).doNothing())
        .execute();
    },
    /** The agent's samples taken at or after `since`, oldest first (at most `limit`). */
    async history(
      tenantId: string,
      agentId: string,
      since: Date,
      limit = 2_000,
    ): Promise<AgentStatsSample[]> {
      const rows = await db
        .selectFrom('warden_agent_stats_samples')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('agent_id', '=', agentId)
        .where('sampled_at', '>=', since)
        .orderBy('sampled_at')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        sampledAt: new Date(row.sampled_at),
        cpu: { cores: row.cpu_cores, load1: row.cpu_load1 },
        memory: { totalBytes: Number(row.memory_total_bytes), usedBytes: Number(row.memory_used_bytes) },
        disk: { totalBytes: Number(row.disk_total_bytes), usedBytes: Number(row.disk_used_bytes) },
        containers: { running: row.containers_running },
      }));
    },
    /** Deletes samples taken before `before`; returns how many. */
    async sweep(before: Date): Promise<number> {
      const result = await db
        .deleteFrom('warden_agent_stats_samples')
        .where('sampled_at', '<', before)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
    async remove(agentId: string): Promise<void> {
      await db.deleteFrom('warden_agent_stats_samples').where('agent_id', '=', agentId).execute();
    },
  };
}

export type AgentStatsSamples = ReturnType<typeof agentStatsSamples>;

export interface SampleRound {
  sampled: number;
  unreachable: number;
  removed: number;
}

/**
 * One sampling round (run by the process holding the agents' lease): asks every registered agent of
 * every tenant for its statistics in parallel, each bounded by `timeoutMs`, records the answers, and
 * deletes samples older than a day. An agent that does not answer leaves a gap in its sparkline.
 */
export async function sampleAgentStats(options: {
  db: Kysely<unknown>;
  keys: Pick<AgentKeys, 'get'>;
  clock: () => Date;
  timeoutMs: number;
}): Promise<SampleRound> {
  const db = options.db as Kysely<Tables>;
  const samples = agentStatsSamples(options.db);
  const agents = await db.selectFrom('workspace_agents').select(['id', 'tenant_id', 'url']).execute();
  const answers = await Promise.all(
    agents.map(async (agent) => ({ agent, stats: await fetchAgentStats(agent, options) })),
  );
  let sampled = 0;
  for (const { agent, stats } of answers) {
    if (stats.status !== 'ok') continue;
    await samples.record(agent.tenant_id, agent.id, stats);
    sampled += 1;
  }
  const removed = await samples.sweep(new Date(options.clock().getTime() - AGENT_STATS_RETENTION_MS));
  return { sampled, unreachable: answers.length - sampled, removed };
}
