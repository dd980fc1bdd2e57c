import { type Kysely, sql } from 'kysely';

/**
 * Workspace agents' keys (handed out by each agent at enrolment; Warden signs its calls with them).
 * Not in the events: a key is a secret, and the event log keeps everything forever. Deregistering an
 * agent deletes its key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_workspace_agent_keys (
      agent_id uuid primary key,
      tenant_id uuid not null,
      agent_key text not null,
      created_at timestamptz not null default now()
    )`.execute(db);
}
