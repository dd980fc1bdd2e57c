import { sql } from 'kysely';
import type { TokenSessions } from './session-types.ts';
import type { SessionContext } from './token-families.ts';

/** Sign-in: a new family with its first pair, and its `TokenFamilyIssued` event. */
export function signIn(context: SessionContext): Pick<TokenSessions, 'start'> {
  const { deps, db, clock, record, newPair, idleExpiry } = context;
  return {
    async start(user, requestId, familyId = crypto.randomUUID()) {
      const now = clock();
      const expires = now.getTime() + deps.refresh.absoluteTtlSeconds * 1000;
      const { pair, hash } = await newPair(user, familyId, now);
      const o = user.oauth;
      // The rows and the audit event are independent writes: sent together, a login waits for one commit, not two.
      // One statement: the family and its first token commit together.
      const rows = sql`
        with family as (
          insert into warden_token_families (family_id, tenant_id, user_id, role, platform_superadmin, created_at,
                                             expires_at, client_id, scope, issuer, dpop_jkt, grant_type, auth_time,
                                             session_id)
          values (${familyId}, ${user.tenantId}, ${user.userId}, ${user.role}, ${user.platformSuperadmin},
                  ${now.toISOString()}::timestamptz, ${new Date(expires).toISOString()}::timestamptz,
                  ${o?.clientId ?? null}::uuid, ${o ? o.scope.join(' ') : null}, ${o?.issuer ?? null},
                  ${o?.dpopJkt ?? null}, ${o?.grantType ?? null}, ${o?.authTime?.toISOString() ?? null}::timestamptz,
                  ${o?.sessionId ?? null})
          returning family_id
        )
        insert into warden_refresh_tokens (token_hash, family_id, generation, issued_at, idle_expires_at)
        select ${hash}, family_id, 0, ${now.toISOString()}::timestamptz, ${idleExpiry(now, expires)}::timestamptz
        from family /* prepared:token_family_start */`.execute(db);
      const event = record(
        familyId,
        user,
        'TokenFamilyIssued',
        {
          userId: user.userId,
          tenantId: user.tenantId,
          issuedAt: now.toISOString(),
          expiresAt: new Date(expires).toISOString(),
          ...(o ? { clientId: o.clientId, scope: o.scope, grantType: o.grantType } : {}),
        },
        requestId,
      );
      await Promise.all([rows, event]);
      return pair;
    },
  };
}
