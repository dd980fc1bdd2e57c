import type { Kysely } from 'kysely';

export interface AgentHeartbeatsTable {
  agent_id: string;
  tenant_id: string;
  last_heartbeat_at: Date;
}

type Tables = { warden_agent_heartbeats: AgentHeartbeatsTable };

/**
 * When each agent last answered (migration 0020): one row per agent, overwritten by each answer, so
 * every process reads the same time and the event log gets no event per heartbeat.
 */
export function agentHeartbeats(database: Kysely<unknown>) {
  const db = database as Kysely<Tables>;
  return {
    async record(tenantId: string, agentId: string, at: Date): Promise<void> {
      await db
        .insertInto('warden_agent_heartbeats')
        .values({ agent_id: agentId, tenant_id: tenantId, last_heartbeat_at: at })
        .onConflict((oc) => oc.column('agent_id').doUpdateSet({ last_heartbeat_at: at }))
        .execute();
    },
    /** The last answer of each of these agents (an agent never heard from is absent). */
    async lastSeen(agentIds: readonly string[]): Promise<Map<string, Date>> {
      if (agentIds.length === 0) return new Map();
      const rows = await db
        .selectFrom('warden_agent_heartbeats')
        .select(['agent_id', 'last_heartbeat_at'])
        .where('agent_id', 'in', [...agentIds])
        .execute();
      return new Map(rows.map((row) => [row.agent_id, new Date(row.last_heartbeat_at)]));
    },
    async remove(agentId: string): Promise<void> {
      await db.deleteFrom('warden_agent_heartbeats').where('agent_id', '=', agentId).execute();
    },
  };
}

export type AgentHeartbeats = ReturnType<typeof agentHeartbeats>;
