import { type Kysely, sql } from 'kysely';

/**
 * The OAuth 2.0 / OIDC server's working state (its facts are events; these rows are what must be
 * looked up or used up atomically): per-tenant signing keys, authorization codes (hashes only, used
 * up with one conditional UPDATE), pending authorization requests (PAR and the login/consent
 * interaction), browser sign-in sessions, one-time JWT ids (client assertions, DPoP proofs), and the
 * OAuth columns of refresh-token families (which client, which scopes, which DPoP key).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_oauth_keys (
      tenant_id uuid not null,
      kid text not null,
      alg text not null,
      state text not null check (state in ('active', 'retired')),
      public_jwk jsonb not null,
      private_key text not null,
      created_at timestamptz not null,
      published_until timestamptz,
      primary key (tenant_id, kid)
    )`.execute(db);
  await sql`create unique index warden_oauth_keys_one_active on warden_oauth_keys (tenant_id, alg) where state = 'active'`.execute(
    db,
  );
  await sql`
    create table warden_oauth_codes (
      code_hash text primary key,
      code_id uuid not null,
      tenant_id uuid not null,
      client_id uuid not null,
      user_id uuid not null,
      redirect_uri text not null,
      scope text not null,
      nonce text,
      code_challenge text not null,
      auth_time timestamptz not null,
      session_id text,
      dpop_jkt text,
      expires_at timestamptz not null,
      used_at timestamptz,
      family_id uuid
    )`.execute(db);
  await sql`create index warden_oauth_codes_expires on warden_oauth_codes (expires_at)`.execute(db);
  await sql`
    create table warden_oauth_requests (
      id text primary key,
      kind text not null check (kind in ('par', 'interaction')),
      tenant_id uuid not null,
      client_id uuid not null,
      params jsonb not null,
      csrf text,
      expires_at timestamptz not null,
      used_at timestamptz
    )`.execute(db);
  await sql`create index warden_oauth_requests_expires on warden_oauth_requests (expires_at)`.execute(db);
  await sql`
    create table warden_oauth_sessions (
      id_hash text primary key,
      tenant_id uuid not null,
      user_id uuid not null,
      auth_time timestamptz not null,
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index warden_oauth_sessions_expires on warden_oauth_sessions (expires_at)`.execute(db);
  await sql`
    create table warden_oauth_jti (
      key text primary key,
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index warden_oauth_jti_expires on warden_oauth_jti (expires_at)`.execute(db);
  await sql`alter table warden_token_families
    add column client_id uuid, add column scope text, add column issuer text,
    add column dpop_jkt text, add column grant_type text, add column auth_time timestamptz,
    add column session_id text`.execute(db);
  await sql`create index warden_token_families_client on warden_token_families (tenant_id, client_id, user_id)
    where client_id is not null`.execute(db);
}
