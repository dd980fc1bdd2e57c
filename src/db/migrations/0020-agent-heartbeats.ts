import { type Kysely, sql } from 'kysely';

/**
 * When each workspace agent last answered Warden's signed health call. A row per agent, upserted by
 * the heartbeat monitor: every process (the API answering `GET /v1/agents`, a monitor taking over
 * after another stopped) sees the same times, and no event is appended per heartbeat.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_agent_heartbeats (
      agent_id uuid primary key,
      tenant_id uuid not null,
      last_heartbeat_at timestamptz not null
    )`.execute(db);
}
