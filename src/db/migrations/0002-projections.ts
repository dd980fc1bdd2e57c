import { type Kysely, sql } from 'kysely';

/**
 * The projection engine's own table: one row per projection, holding the checkpoint together with
 * the version its live tables were built with (both move in the read-model transaction), the state
 * and last error that must survive a restart, and the lease of a rebuild in progress (so a second
 * rebuild, from this process or another, is refused while the first is alive).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_projections (
      name text primary key,
      -- version of the code that built the live tables; null when unknown (tables found without a row)
      version integer,
      position bigint not null default 0,
      state text not null default 'stopped',
      error_message text,
      error_event_id text,
      error_position bigint,
      error_at timestamptz,
      rebuild_owner text,
      rebuild_done bigint,
      rebuild_total bigint,
      rebuild_heartbeat timestamptz,
      updated_at timestamptz not null default now()
    )`.execute(db);
}
