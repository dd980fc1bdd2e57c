import { type Kysely, sql } from 'kysely';

/**
 * Abuse limits whose state must hold across processes: login throttling per account and per client
 * address, and the per-tenant API rate limiter. Each check is one atomic upsert on one of these rows.
 * Also an index for per-tenant storage stats over the event log.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_login_throttle (
      key text primary key,
      window_start timestamptz not null,
      attempts integer not null,
      failures integer not null,
      next_allowed_at timestamptz not null
    )`.execute(db);
  await sql`create index warden_login_throttle_window on warden_login_throttle (window_start)`.execute(db);
  await sql`
    create table warden_rate_limits (
      key text primary key,
      window_start timestamptz not null,
      hits integer not null
    )`.execute(db);
  await sql`create index warden_rate_limits_window on warden_rate_limits (window_start)`.execute(db);
  await sql`create index warden_events_tenant on warden_events (tenant_id) where tenant_id is not null`.execute(
    db,
  );
}
