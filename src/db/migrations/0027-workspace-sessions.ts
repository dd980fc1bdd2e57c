import { type Kysely, sql } from 'kysely';

/**
 * Workspace browser sessions as their user lists them (`GET /v1/workspaces/{id}/sessions`): a public
 * id that is neither the secret nor its hash (the one `DELETE …/sessions/{id}` takes), when the
 * session was last used (kept to the minute), and where it was opened from (the browser's User-Agent
 * and address, sealed with the user's personal-data key as `origin`, with that key's id).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table warden_workspace_access
      add column id uuid not null default gen_random_uuid(),
      add column last_used_at timestamptz,
      add column origin_key uuid,
      add column origin text`.execute(db);
  await sql`create unique index warden_workspace_access_id on warden_workspace_access (id)`.execute(db);
}
