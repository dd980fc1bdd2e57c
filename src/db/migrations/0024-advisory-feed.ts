import { type Kysely, sql } from 'kysely';

/**
 * The state of the OSV feed sync, a row per feed URL: the validators of the last archive imported
 * (sent back as `If-None-Match` / `If-Modified-Since`, so an unchanged feed is a 304 and no
 * download), when the feed was last asked, and the last failure. Every process of the cluster
 * reads the same row, so whichever holds the sync lease knows when the next sync is due.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_advisory_feed (
      url text primary key,
      etag text,
      last_modified text,
      checked_at timestamptz not null,
      synced_at timestamptz,
      last_import_id text,
      last_error text
    )`.execute(db);
}
