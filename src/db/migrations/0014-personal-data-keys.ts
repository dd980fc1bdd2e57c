import { type Kysely, sql } from 'kysely';

/**
 * Personal-data keys: one AES-256-GCM data key per person (a user id), sealed at rest with the
 * key-encryption key. Personal fields of events are encrypted with it; erasure sets `sealed_key` to
 * null (crypto-shredding), after which those fields read as erased everywhere. A person erased and
 * registered again gets a new key (a new row); at most one live key per subject.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_personal_data_keys (
      key_id uuid primary key,
      subject_id uuid not null,
      tenant_id uuid,
      sealed_key text,
      created_at timestamptz not null default now(),
      erased_at timestamptz,
      check ((sealed_key is null) = (erased_at is not null))
    )`.execute(db);
  await sql`
    create unique index warden_personal_data_keys_live on warden_personal_data_keys (subject_id)
    where erased_at is null`.execute(db);
  await sql`create index warden_personal_data_keys_subject on warden_personal_data_keys (subject_id)`.execute(
    db,
  );
}
