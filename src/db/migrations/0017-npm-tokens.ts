import { type Kysely, sql } from 'kysely';

/**
 * Read tokens for a tenant's npm view (`/t/<slug>/npm/`): what CI puts in `.npmrc`. Stored only as
 * SHA-256 hashes; a revoked token keeps its row (who revoked it, when) and stops working.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_npm_tokens (
      token_id uuid primary key,
      tenant_id uuid not null,
      token_hash text not null unique,
      name text not null,
      created_by uuid not null,
      created_at timestamptz not null,
      revoked_at timestamptz,
      revoked_by uuid
    )`.execute(db);
  await sql`create index warden_npm_tokens_tenant on warden_npm_tokens (tenant_id, created_at)`.execute(db);
}
