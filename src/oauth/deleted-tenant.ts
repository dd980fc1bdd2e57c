import { type QueryExecutorProvider, sql } from 'kysely';

/**
 * What the authorization server holds of a deleted tenant, deleted so that none of it is ever used:
 * its authorization codes not yet redeemed, its sign-in sessions (their cookies sign no one in again)
 * and its pending authorization requests (pushed request_uris, open sign-in and consent pages), used
 * ones too. Presented, each is unknown. Redeemed codes stay until the sweep: a replay of one still
 * names its family. Only this tenant's rows; `db` may be a transaction (a process manager's handling
 * one), and deleting again deletes nothing.
 */
export async function forgetDeletedTenant(db: QueryExecutorProvider, tenantId: string): Promise<void> {
  await sql`delete from warden_oauth_codes where tenant_id = ${tenantId} and used_at is null`.execute(db);
  await sql`delete from warden_oauth_sessions where tenant_id = ${tenantId}`.execute(db);
  await sql`delete from warden_oauth_requests where tenant_id = ${tenantId}`.execute(db);
}
