import type { Kysely } from 'kysely';
import { openedSecrets } from './opened-secrets.ts';

export interface AgentKeysTable {
  agent_id: string;
  tenant_id: string;
  /** The key sealed with the key-encryption key (`v1.…`); rows from before sealing hold it in clear. */
  agent_key: string;
  created_at: Date;
}

type Tables = { warden_workspace_agent_keys: AgentKeysTable };

/** Seals with the key-encryption key (the identity stack's, or a worker's `ctx.sealer`). */
export interface KeySealer {
  seal(plaintext: string, context: string): Promise<string>;
  open(sealed: string, context: string): Promise<string>;
}

/** Sealed values are `v1.<iv>.<data>`; an agent key (base64url) never holds a dot. */
const isSealed = (stored: string) => stored.startsWith('v1.');
const context = (agentId: string) => `workspace agent key ${agentId}`;

/**
 * The keys Warden signs agent calls with, one per registered agent (migration 0016), sealed with
 * the key-encryption key: the database alone does not let anyone drive an agent. A row written in
 * clear before sealing is read as it is and sealed in place on that read.
 */
export function agentKeys(database: Kysely<unknown>, sealer: KeySealer) {
  const db = database as Kysely<Tables>;
  const open = openedSecrets(sealer);
  return {
    async put(tenantId: string, agentId: string, key: string) {
      const sealed = await sealer.seal(key, context(agentId));
      await db
        .insertInto('warden_workspace_agent_keys')
        .values({ agent_id: agentId, tenant_id: tenantId, agent_key: sealed, created_at: new Date() })
        .onConflict((oc) => oc.column('agent_id').doUpdateSet({ agent_key: sealed }))
        .execute();
    },
    async get(agentId: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('warden_workspace_agent_keys')
        .select('agent_key')
        .where('agent_id', '=', agentId)
        .executeTakeFirst();
      if (!row) return undefined;
      if (isSealed(row.agent_key)) return open(row.agent_key, context(agentId));
      // Written before keys were sealed: seal it now (only if nobody changed it meanwhile).
      await db
        .updateTable('warden_workspace_agent_keys')
        .set({ agent_key: await sealer.seal(row.agent_key, context(agentId)) })
        .where('agent_id', '=', agentId)
        .where('agent_key', '=', row.agent_key)
        .execute();
      return row.agent_key;
    },
    async remove(agentId: string) {
      await db.deleteFrom('warden_workspace_agent_keys').where('agent_id', '=', agentId).execute();
    },
  };
}

export type AgentKeys = ReturnType<typeof agentKeys>;
