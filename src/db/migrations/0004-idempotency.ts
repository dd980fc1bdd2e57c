import { type Kysely, sql } from 'kysely';

/** Responses remembered per Idempotency-Key, so a retried POST replays instead of acting twice. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_idempotency (
      scope text not null,
      key text not null,
      fingerprint text not null,
      state text not null,
      status integer,
      headers json,
      body text,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (scope, key)
    )`.execute(db);
  await sql`create index warden_idempotency_expires on warden_idempotency (expires_at)`.execute(db);
}
