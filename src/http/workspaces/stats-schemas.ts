import { z } from 'zod';
import type { AgentStats, AgentStatsSample } from '../../workspaces/index.ts';
import { Agent } from './schemas.ts';

const Bytes = z.object({ total_bytes: z.number(), used_bytes: z.number() });

export const AgentStatsBody = z
  .object({
    agent_id: z.uuid(),
    status: z.enum(['ok', 'unreachable']).meta({
      description: '`unreachable`: the agent did not answer within WARDEN_AGENT_STATS_TIMEOUT_MS, or refused',
    }),
    reason: z.string().nullable().meta({ description: 'Why the agent is unreachable (null when ok)' }),
    sampled_at: z.string().meta({ description: 'When the agent was asked (answers are reused for the TTL)' }),
    cpu: z.object({ cores: z.number(), load1: z.number() }).nullable(),
    memory: Bytes.nullable(),
    disk: Bytes.nullable(),
    containers: z.object({ total: z.number(), running: z.number() }).nullable(),
    workspaces: z.object({
      running: z.number().meta({ description: 'Workspaces of this tenant running there (read model)' }),
    }),
  })
  .meta({ id: 'WorkspaceAgentStats' });

export const AgentWithStats = Agent.extend({ stats: AgentStatsBody.optional() }).meta({
  id: 'WorkspaceAgentWithStats',
});

export const AgentListQuery = z.object({
  with: z
    .enum(['stats'])
    .optional()
    .meta({ description: '`stats`: each agent asked for its statistics, in parallel, each bounded' }),
});

export const StatsHistoryQuery = z.strictObject({
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Samples taken at or after this time (default and earliest: a day ago)' }),
});

export const AgentStatsHistory = z
  .object({
    agent_id: z.uuid(),
    since: z.string(),
    items: z.array(
      z.object({
        sampled_at: z.string(),
        cpu: z.object({ cores: z.number(), load1: z.number() }),
        memory: Bytes,
        disk: Bytes,
        containers: z.object({ running: z.number() }),
      }),
    ),
  })
  .meta({ id: 'WorkspaceAgentStatsHistory' });

const bytes = (b: { totalBytes: number; usedBytes: number }) => ({
  total_bytes: b.totalBytes,
  used_bytes: b.usedBytes,
});

export function presentStats(
  agentId: string,
  stats: AgentStats,
  running: number,
): z.infer<typeof AgentStatsBody> {
  const workspaces = { running };
  if (stats.status === 'unreachable') {
    return {
      agent_id: agentId,
      status: 'unreachable',
      reason: stats.reason,
      sampled_at: stats.sampledAt.toISOString(),
      cpu: null,
      memory: null,
      disk: null,
      containers: null,
      workspaces,
    };
  }
  return {
    agent_id: agentId,
    status: 'ok',
    reason: null,
    sampled_at: stats.sampledAt.toISOString(),
    cpu: stats.cpu,
    memory: bytes(stats.memory),
    disk: bytes(stats.disk),
    containers: stats.containers,
    workspaces,
  };
}

export function presentSample(sample: AgentStatsSample) {
  return {
    sampled_at: sample.sampledAt.toISOString(),
    cpu: sample.cpu,
    memory: bytes(sample.memory),
    disk: bytes(sample.disk),
    containers: sample.containers,
  };
}
