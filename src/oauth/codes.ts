import { type Kysely, sql } from 'kysely';
import { sha256Of } from '../crypto/digest.ts';
import type { Tables } from '../db/tables.ts';
import { base64url, randomToken, sha256 } from '../identity/index.ts';

export interface CodeGrant {
  codeId: string;
  tenantId: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  scope: string[];
  nonce: string | null;
  codeChallenge: string;
  authTime: Date;
  sessionId: string | null;
  dpopJkt: string | null;
}

export type Redemption =
  | { ok: true; grant: CodeGrant }
  | { ok: false; reason: 'unknown' | 'expired' | 'wrong_client' | 'wrong_redirect' | 'pkce' }
  /** Presented again: the family it was redeemed into must be revoked (RFC 6749 §4.1.2). */
  | { ok: false; reason: 'reused'; familyId: string | null; grant: CodeGrant };

interface CodeRow {
  code_id: string;
  tenant_id: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  scope: string;
  nonce: string | null;
  code_challenge: string;
  auth_time: Date | string;
  session_id: string | null;
  dpop_jkt: string | null;
  expires_at: Date | string;
  used_at: Date | string | null;
  family_id: string | null;
}

const grantOf = (row: CodeRow): CodeGrant => ({
  codeId: row.code_id,
  tenantId: row.tenant_id,
  clientId: row.client_id,
  userId: row.user_id,
  redirectUri: row.redirect_uri,
  scope: row.scope.split(' ').filter(Boolean),
  nonce: row.nonce,
  codeChallenge: row.code_challenge,
  authTime: new Date(row.auth_time),
  sessionId: row.session_id,
  dpopJkt: row.dpop_jkt,
});

/** RFC 7636 S256: BASE64URL(SHA256(verifier)) = challenge. */
export const s256 = (verifier: string) => base64url(sha256Of(verifier));
/** RFC 7636 §4.1: 43–128 characters of [A-Z a-z 0-9 - . _ ~]. */
export const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CODE_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Authorization codes: 256 random bits, stored only as their SHA-256, short-lived, and used up by
 * one conditional UPDATE so two concurrent redemptions cannot both win. The row remembers the family
 * the code was redeemed into, so a second presentation revokes what the first one issued.
 */
export function authorizationCodes(deps: { db: Kysely<Tables>; ttlSeconds: number; clock: () => Date }) {
  const { db } = deps;
  return {
    async issue(
      grant: Omit<CodeGrant, 'codeId'>,
    ): Promise<{ code: string; codeId: string; expiresAt: Date }> {
      const code = randomToken(256);
      const codeId = crypto.randomUUID();
      const expiresAt = new Date(deps.clock().getTime() + deps.ttlSeconds * 1000);
      await sql`
        insert into warden_oauth_codes (code_hash, code_id, tenant_id, client_id, user_id, redirect_uri, scope, nonce,
          code_challenge, auth_time, session_id, dpop_jkt, expires_at)
        values (${await sha256(code)}, ${codeId}, ${grant.tenantId}, ${grant.clientId}, ${grant.userId},
          ${grant.redirectUri}, ${grant.scope.join(' ')}, ${grant.nonce}, ${grant.codeChallenge},
          ${grant.authTime.toISOString()}::timestamptz, ${grant.sessionId}, ${grant.dpopJkt},
          ${expiresAt.toISOString()}::timestamptz)`.execute(db);
      return { code, codeId, expiresAt };
    },

    /**
     * Uses up a code for `clientId` with `redirectUri` and the PKCE `verifier`. Only the client the
     * code was issued to uses it up, in the one conditional UPDATE that takes it: another client's
     * attempt (RFC 6749 §4.1.3) is refused without touching the code, so it can neither destroy the
     * code before its client exchanges it nor pass for a replay that revokes what the exchange issued.
     * The code's own client uses it up by the attempt even when the redirect_uri or the verifier is
     * wrong: that is a sign the code is under attack (RFC 9700 §4.5), and no verifier is tried twice.
     */
    async redeem(
      code: string,
      tenantId: string,
      input: { clientId: string; redirectUri: string | undefined; verifier: string },
    ): Promise<Redemption> {
      if (!CODE_SHAPE.test(code)) return { ok: false, reason: 'unknown' };
      const hash = await sha256(code);
      const now = deps.clock();
      const used = await sql<CodeRow>`
        update warden_oauth_codes set used_at = ${now.toISOString()}::timestamptz
        where code_hash = ${hash} and tenant_id = ${tenantId} and client_id = ${input.clientId}
          and used_at is null
        returning *`.execute(db);
      const row = used.rows[0];
      if (!row) {
        const seen = await sql<CodeRow>`
          select * from warden_oauth_codes where code_hash = ${hash} and tenant_id = ${tenantId}`.execute(db);
        const earlier = seen.rows[0];
        if (!earlier) return { ok: false, reason: 'unknown' };
        if (earlier.client_id !== input.clientId) return { ok: false, reason: 'wrong_client' };
        return { ok: false, reason: 'reused', familyId: earlier.family_id, grant: grantOf(earlier) };
      }
      if (new Date(row.expires_at) <= now) return { ok: false, reason: 'expired' };
      // RFC 6749 §4.1.3: the same redirect_uri as in the authorization request, compared exactly.
      if (input.redirectUri !== row.redirect_uri) return { ok: false, reason: 'wrong_redirect' };
      if (!PKCE_VERIFIER.test(input.verifier) || s256(input.verifier) !== row.code_challenge) {
        return { ok: false, reason: 'pkce' };
      }
      return { ok: true, grant: grantOf(row) };
    },

    /** Records the family the code was redeemed into (what a replay of the code revokes). */
    async redeemedInto(codeId: string, familyId: string) {
      await sql`update warden_oauth_codes set family_id = ${familyId} where code_id = ${codeId}`.execute(db);
    },

    /** The family the code was redeemed into by now (null: none yet, or the exchange failed). */
    async familyOf(codeId: string): Promise<string | null> {
      const result = await sql<{ family_id: string | null }>`
        select family_id from warden_oauth_codes where code_id = ${codeId}`.execute(db);
      return result.rows[0]?.family_id ?? null;
    },

    /** Deletes codes expired more than a day ago (the day keeps replays of them recognisable). */
    async sweep(): Promise<number> {
      const before = new Date(deps.clock().getTime() - 86_400_000).toISOString();
      const result =
        await sql`delete from warden_oauth_codes where expires_at < ${before}::timestamptz`.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
export type AuthorizationCodes = ReturnType<typeof authorizationCodes>;
