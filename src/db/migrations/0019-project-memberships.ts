import { type Kysely, sql } from 'kysely';

/**
 * The project-memberships process manager's own index: who is a member of which project. Written in
 * the transaction that advances its checkpoint, so a user's removal finds every project they are in,
 * unlike a read model that may lag behind the removal it reacts to.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_tracker_project_members (
      project_id uuid not null,
      tenant_id uuid not null,
      user_id uuid not null,
      primary key (project_id, user_id)
    )`.execute(db);
  await sql`create index warden_tracker_project_members_user on warden_tracker_project_members (tenant_id, user_id)`.execute(
    db,
  );
}
