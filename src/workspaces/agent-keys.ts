import type { Kysely } from 'kysely';

export interface AgentKeysTable {
  agent_id: string;
  tenant_id: string;
  agent_key: string;
  created_at: Date;
}

type Tables = { warden_workspace_agent_keys: AgentKeysTable };

/** The keys Warden signs agent calls with, one per registered agent (migration 0016). */
export function agentKeys(database: Kysely<unknown>) {
  const db = database as Kysely<Tables>;
  return {
    async put(tenantId: string, agentId: string, key: string) {
      await db
        .insertInto('warden_workspace_agent_keys')
        .values({ agent_id: agentId, tenant_id: tenantId, agent_key: key, created_at: new Date() })
        .onConflict((oc) => oc.column('agent_id').doUpdateSet({ agent_key: key }))
        .execute();
    },
    async get(agentId: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('warden_workspace_agent_keys')
        .select('agent_key')
        .where('agent_id', '=', agentId)
        .executeTakeFirst();
      return row?.agent_key;
    },
    async remove(agentId: string) {
      await db.deleteFrom('warden_workspace_agent_keys').where('agent_id', '=', agentId).execute();
    },
  };
}

export type AgentKeys = ReturnType<typeof agentKeys>;
