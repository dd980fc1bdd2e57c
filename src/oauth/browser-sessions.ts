import { type Kysely, sql } from 'kysely';
import type { Tables } from '../db/tables.ts';
import { randomToken, sha256 } from '../identity/index.ts';

export interface BrowserSession {
  /** The OIDC `sid`: a hash of the cookie, never the cookie itself. */
  sid: string;
  userId: string;
  authTime: Date;
}

/**
 * Sign-in sessions of the authorization server's pages (single sign-on across a tenant's clients):
 * the cookie holds 256 random bits; the table holds their hash. End-session deletes the row.
 */
export function browserSessions(deps: { db: Kysely<Tables>; ttlSeconds: number; clock: () => Date }) {
  const { db } = deps;
  return {
    async start(tenantId: string, userId: string): Promise<{ cookie: string; session: BrowserSession }> {
      const cookie = randomToken(256);
      const sid = await sha256(cookie);
      const now = deps.clock();
      await sql`
        insert into warden_oauth_sessions (id_hash, tenant_id, user_id, auth_time, expires_at)
        values (${sid}, ${tenantId}, ${userId}, ${now.toISOString()}::timestamptz,
                ${new Date(now.getTime() + deps.ttlSeconds * 1000).toISOString()}::timestamptz)`.execute(db);
      return { cookie, session: { sid, userId, authTime: now } };
    },

    async find(tenantId: string, cookie: string | undefined): Promise<BrowserSession | undefined> {
      if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
      const sid = await sha256(cookie);
      const result = await sql<{ user_id: string; auth_time: Date | string }>`
        select user_id, auth_time from warden_oauth_sessions
        where id_hash = ${sid} and tenant_id = ${tenantId}
          and expires_at > ${deps.clock().toISOString()}::timestamptz`.execute(db);
      const row = result.rows[0];
      return row ? { sid, userId: row.user_id, authTime: new Date(row.auth_time) } : undefined;
    },

    async end(tenantId: string, sid: string): Promise<void> {
      await sql`delete from warden_oauth_sessions where id_hash = ${sid} and tenant_id = ${tenantId}`.execute(
        db,
      );
    },

    async sweep(): Promise<number> {
      const result = await sql`
        delete from warden_oauth_sessions where expires_at < ${deps.clock().toISOString()}::timestamptz`.execute(
        db,
      );
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
export type BrowserSessions = ReturnType<typeof browserSessions>;
