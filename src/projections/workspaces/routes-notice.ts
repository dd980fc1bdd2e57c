import { type Kysely, sql } from 'kysely';

/**
 * The NOTIFY channel that wakes nginx routers when what they render changed (a route published or
 * withdrawn, a workspace becoming unavailable or leaving that state); the payload is the schema of
 * the read model, so a router on a shared server ignores another schema's changes.
 */
export const ROUTES_CHANNEL = 'warden_routes';

/**
 * Announces a change of the routes the nginx routers render. Called inside the projection's
 * transaction, so the notice is delivered when the change commits: a woken router reads it.
 */
export async function announceRoutesChanged<T>(db: Kysely<T>): Promise<void> {
  await sql`select pg_notify(${ROUTES_CHANNEL}, current_schema())`.execute(db);
}
