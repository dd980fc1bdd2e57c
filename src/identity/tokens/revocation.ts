import { type QueryExecutorProvider, sql } from 'kysely';
import type { RevokeReason, TokenSessions } from './session-types.ts';
import type { SessionContext } from './token-families.ts';

/**
 * Marks live families revoked — one family, every one of a user in a tenant, or every one of a
 * tenant (its users' sign-ins and the OAuth grants they gave alike) — and answers those it marked.
 * The one write of the revocation columns: `revoked_recorded_at` is what every process's revocation
 * sync fetches. `db` may be a transaction (a process manager's handling one).
 */
export async function revokeFamilies(
  db: QueryExecutorProvider,
  which: { familyId: string } | { tenantId: string; userId: string } | { tenantId: string },
  reason: RevokeReason,
  at: string,
): Promise<{ family_id: string; tenant_id: string; user_id: string }[]> {
  const where =
    'familyId' in which
      ? sql`family_id = ${which.familyId}`
      : 'userId' in which
        ? sql`tenant_id = ${which.tenantId} and user_id = ${which.userId}`
        : sql`tenant_id = ${which.tenantId}`;
  const { rows } = await sql<{ family_id: string; tenant_id: string; user_id: string }>`
    update warden_token_families
    set revoked_at = ${at}::timestamptz, revoked_reason = ${reason}, revoked_recorded_at = now()
    where ${where} and revoked_at is null
    returning family_id, tenant_id, user_id`.execute(db);
  return rows;
}

/** Revokes one family here and in this process's copy at once (other processes: within their sync). */
export async function revokeFamily(
  context: SessionContext,
  familyId: string,
  reason: RevokeReason,
  now: Date,
) {
  const [revoked] = await revokeFamilies(context.db, { familyId }, reason, now.toISOString());
  context.revocations.revokeFamily(familyId);
  return revoked;
}

/** Logout and revocation of families and access tokens; the revocation check every request makes. */
export function revocation(
  context: SessionContext,
): Pick<
  TokenSessions,
  'logout' | 'revoke' | 'revokeClientFamilies' | 'revokeUser' | 'revokeAccessToken' | 'isRevoked'
> {
  const { db, clock, revocations, record } = context;
  const methods: ReturnType<typeof revocation> = {
    async logout(session, requestId) {
      const now = clock();
      await sql`
        insert into warden_revoked_access_tokens (jti, expires_at)
        values (${session.tokenId}, ${session.expiresAt.toISOString()}::timestamptz)
        on conflict (jti) do nothing`.execute(db);
      revocations.revokeToken(session.tokenId, session.expiresAt);
      const revoked = await revokeFamily(context, session.familyId, 'logout', now);
      if (revoked) {
        await record(
          session.familyId,
          { tenantId: revoked.tenant_id, userId: revoked.user_id },
          'TokenFamilyRevoked',
          { reason: 'logout', revokedAt: now.toISOString() },
          requestId,
        );
      }
    },

    async revoke(familyId, reason, requestId) {
      const revoked = await revokeFamily(context, familyId, reason, clock());
      if (!revoked) return false;
      await record(
        familyId,
        { tenantId: revoked.tenant_id, userId: revoked.user_id },
        'TokenFamilyRevoked',
        { reason, revokedAt: clock().toISOString() },
        requestId,
      );
      return true;
    },

    async revokeClientFamilies(tenantId, clientId, reason, userId, requestId) {
      const families = await sql<{ family_id: string }>`
        select family_id from warden_token_families
        where tenant_id = ${tenantId} and client_id = ${clientId} and revoked_at is null
          and (${userId ?? null}::uuid is null or user_id = ${userId ?? null}::uuid)`.execute(db);
      let count = 0;
      for (const { family_id } of families.rows) {
        if (await methods.revoke(family_id, reason, requestId)) count++;
      }
      return count;
    },

    async revokeUser(which, reason, requestId) {
      const families = await sql<{ family_id: string }>`
        select family_id from warden_token_families
        where tenant_id = ${which.tenantId} and user_id = ${which.userId} and revoked_at is null
          and (${which.keep ?? null}::uuid is null or family_id <> ${which.keep ?? null}::uuid)`.execute(db);
      let count = 0;
      for (const { family_id } of families.rows) {
        if (await methods.revoke(family_id, reason, requestId)) count++;
      }
      return count;
    },

    async revokeAccessToken(tokenId, expiresAt) {
      await sql`
        insert into warden_revoked_access_tokens (jti, expires_at)
        values (${tokenId}, ${expiresAt.toISOString()}::timestamptz)
        on conflict (jti) do nothing`.execute(db);
      revocations.revokeToken(tokenId, expiresAt);
    },

    async isRevoked(tokenId, familyId) {
      await revocations.fresh();
      return revocations.has(tokenId, familyId);
    },
  };
  return methods;
}
