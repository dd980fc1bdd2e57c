import { type Kysely, sql } from 'kysely';

/**
 * Revocations carry the database's time of recording, so every process can keep an in-memory copy of
 * the access-token denylist and the revoked families, fetching only what is new once a second,
 * instead of asking the database on every authenticated request.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table warden_revoked_access_tokens add column recorded_at timestamptz not null default now()`.execute(
    db,
  );
  await sql`create index warden_revoked_access_tokens_recorded on warden_revoked_access_tokens (recorded_at)`.execute(
    db,
  );
  await sql`alter table warden_token_families add column revoked_recorded_at timestamptz`.execute(db);
  await sql`
    create index warden_token_families_revoked_recorded on warden_token_families (revoked_recorded_at)
    where revoked_recorded_at is not null`.execute(db);
}
