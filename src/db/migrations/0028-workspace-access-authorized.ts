import { type Kysely, sql } from 'kysely';

/**
 * The moment a workspace ticket or session draws its authority from: a ticket's making, which the
 * session it becomes keeps (`mayEnter` compares it with the user's credential changes), so a password
 * change landing between an entry's check and its write refuses the session at its first use. Rows
 * from before take their `created_at`; the default (the server's clock) serves rows written by a
 * process not yet upgraded during a rolling update, which then behave as they did before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table warden_workspace_access add column authorized_at timestamptz`.execute(db);
  await sql`update warden_workspace_access set authorized_at = created_at`.execute(db);
  await sql`
    alter table warden_workspace_access
      alter column authorized_at set not null,
      alter column authorized_at set default now()`.execute(db);
}
