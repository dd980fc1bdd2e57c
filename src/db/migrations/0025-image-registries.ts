import { type Kysely, sql } from 'kysely';

/**
 * Each tenant's image registry (where `POST /v1/images/{id}/push` sends its images): the URL, the
 * user name and the password sealed with the key-encryption key, never kept in clear nor returned.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_image_registries (
      tenant_id uuid primary key,
      url text not null,
      username text not null,
      password_sealed text,
      updated_at timestamptz not null default now()
    )`.execute(db);
}
