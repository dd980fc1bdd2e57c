import { type Kysely, sql } from 'kysely';

/**
 * Replay snapshots: the state of a stream's aggregate every few hundred revisions, written by replay as
 * it folds, so a point-in-time replay folds at most a few hundred events. A cache, not a source of
 * truth: rows are keyed by a fingerprint of the aggregate's code and the upcasters, so changed code
 * never reads an old snapshot, and the table may be emptied at any time.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_replay_snapshots (
      stream_id text not null,
      code text not null,
      revision bigint not null,
      position bigint not null,
      recorded_at timestamptz not null,
      state text not null,
      created_at timestamptz not null default now(),
      primary key (stream_id, code, revision)
    )`.execute(db);
}
