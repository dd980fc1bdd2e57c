import { type Kysely, sql } from 'kysely';

/**
 * The issue-rules process manager's own index: who is assigned to which issue. Written in the
 * transaction that advances its checkpoint, so it is exact at every handled event, unlike a read
 * model that may lag behind the removal it reacts to.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_tracker_assignments (
      issue_id uuid primary key,
      tenant_id uuid not null,
      user_id uuid not null
    )`.execute(db);
  await sql`create index warden_tracker_assignments_user on warden_tracker_assignments (tenant_id, user_id)`.execute(
    db,
  );
}
