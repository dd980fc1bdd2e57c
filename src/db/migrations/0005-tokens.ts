import { type Kysely, sql } from 'kysely';

/**
 * Tokens: signing keys (private halves encrypted with the key-encryption key), refresh-token families
 * and their tokens (stored only as SHA-256 hashes), and the denylist of access-token ids refused after
 * logout until they expire.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_signing_keys (
      kid text primary key,
      state text not null check (state in ('pending', 'active', 'retired')),
      public_jwk jsonb not null,
      private_key text not null,
      created_at timestamptz not null,
      activated_at timestamptz,
      retired_at timestamptz,
      published_until timestamptz
    )`.execute(db);
  // At most one key signs and at most one waits: rotation moves both in one transaction.
  await sql`create unique index warden_signing_keys_one_active on warden_signing_keys (state) where state in ('active', 'pending')`.execute(
    db,
  );
  await sql`
    create table warden_token_families (
      family_id uuid primary key,
      tenant_id uuid not null,
      user_id uuid not null,
      role text not null,
      platform_superadmin boolean not null,
      created_at timestamptz not null,
      expires_at timestamptz not null,
      revoked_at timestamptz,
      revoked_reason text
    )`.execute(db);
  await sql`
    create table warden_refresh_tokens (
      token_hash text primary key,
      family_id uuid not null references warden_token_families (family_id),
      generation integer not null,
      issued_at timestamptz not null,
      idle_expires_at timestamptz not null,
      used_at timestamptz,
      successor_hash text,
      successor_sealed text
    )`.execute(db);
  await sql`create index warden_refresh_tokens_family on warden_refresh_tokens (family_id)`.execute(db);
  await sql`
    create table warden_revoked_access_tokens (
      jti text primary key,
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index warden_revoked_access_tokens_expires on warden_revoked_access_tokens (expires_at)`.execute(
    db,
  );
}
