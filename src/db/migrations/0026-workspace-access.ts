import { type Kysely, sql } from 'kysely';

/**
 * Who may reach a workspace through nginx: one-time entry tickets and the browser sessions they
 * become, each kept as the SHA-256 of its secret (never the secret), bound to one workspace and its
 * user, until it expires.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_workspace_access (
      secret_hash text primary key,
      kind text not null check (kind in ('ticket', 'session')),
      tenant_id uuid not null,
      workspace_id uuid not null,
      user_id uuid not null,
      expires_at timestamptz not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index warden_workspace_access_workspace on warden_workspace_access (workspace_id)`.execute(
    db,
  );
  await sql`create index warden_workspace_access_expires on warden_workspace_access (expires_at)`.execute(db);
}
