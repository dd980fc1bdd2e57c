import { sql } from 'kysely';
import { keyFromToken, open, seal, sha256 } from './crypto.ts';
import { revokeFamily } from './revocation.ts';
import type { RefreshResult, TokenPair, TokenSessions } from './session-types.ts';
import { ms, REFRESH_SHAPE, type SessionContext, type TokenRow } from './token-families.ts';

/** Refresh rotation with reuse detection, and introspection of a refresh token. */
export function refreshRotation(context: SessionContext): Pick<TokenSessions, 'refresh' | 'inspect'> {
  const { deps, db, clock, record, newPair, userOf, idleExpiry, find } = context;

  /** The presented token was used already: the grace replay, or reuse detection. */
  async function reused(
    row: TokenRow,
    refreshToken: string,
    now: Date,
    requestId?: string,
  ): Promise<RefreshResult> {
    const withinGrace =
      row.used_at !== null && now.getTime() - ms(row.used_at) <= deps.refresh.graceSeconds * 1000;
    if (withinGrace && row.successor_hash && row.successor_sealed) {
      const successor = await sql<{ used_at: Date | null }>`
        select used_at from warden_refresh_tokens where token_hash = ${row.successor_hash}`.execute(db);
      // Only the immediate predecessor of the newest token: once the successor is used in turn, an
      // older token is a replay, not a race.
      if (successor.rows[0] && successor.rows[0].used_at === null) {
        const sealed = await open(await keyFromToken(refreshToken), row.successor_sealed, row.successor_hash);
        return { ok: true, pair: JSON.parse(sealed) as TokenPair, replayed: true };
      }
    }
    const revoked = await revokeFamily(context, row.family_id, 'reuse_detected', now);
    if (revoked) {
      await record(
        row.family_id,
        { tenantId: revoked.tenant_id, userId: revoked.user_id },
        'TokenFamilyRevoked',
        { reason: 'reuse_detected', revokedAt: now.toISOString() },
        requestId,
      );
    }
    return { ok: false, reason: 'reused' };
  }

  return {
    async refresh(refreshToken, tenantId, requestId, expect = { clientId: null }) {
      const now = clock();
      // Anything not shaped like our tokens is refused before it costs a hash and a query.
      if (!REFRESH_SHAPE.test(refreshToken)) return { ok: false, reason: 'invalid' };
      const hash = await sha256(refreshToken);
      const row = await find(hash);
      if (!row || (tenantId !== undefined && row.tenant_id !== tenantId))
        return { ok: false, reason: 'invalid' };
      // A refresh token works only for the client it was issued to (Warden's own sign-in: none), and a
      // DPoP-bound one only with a proof of the same key (RFC 9449 §5).
      if ((row.client_id ?? null) !== expect.clientId) return { ok: false, reason: 'invalid' };
      if (row.dpop_jkt !== null && row.dpop_jkt !== expect.dpopJkt)
        return { ok: false, reason: 'dpop_mismatch' };
      const granted = (row.scope ?? '').split(' ').filter(Boolean);
      if (expect.scope?.some((s) => !granted.includes(s))) return { ok: false, reason: 'invalid_scope' };
      if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (ms(row.expires_at) <= now.getTime()) return { ok: false, reason: 'expired' };
      if (row.used_at !== null) return reused(row, refreshToken, now, requestId);
      if (ms(row.idle_expires_at) <= now.getTime()) return { ok: false, reason: 'expired' };

      let user = userOf(row);
      if (user.oauth && expect.scope && expect.scope.length > 0) {
        // RFC 6749 §6: a narrower scope for this access token; the grant keeps what it had.
        user = { ...user, oauth: { ...user.oauth, scope: [...expect.scope] } };
      }
      if (deps.currentUser) {
        const current = await deps.currentUser(row.tenant_id, row.user_id);
        if (!current) {
          if (await revokeFamily(context, row.family_id, 'user_gone', now)) {
            await record(
              row.family_id,
              user,
              'TokenFamilyRevoked',
              { reason: 'user_gone', revokedAt: now.toISOString() },
              requestId,
            );
          }
          return { ok: false, reason: 'user_gone' };
        }
        // Checked before the token is used up: a refusal that may be lifted later costs the family nothing.
        if ('refused' in current) return { ok: false, reason: current.refused };
        user = { ...user, ...current };
      }
      const { pair, hash: successorHash } = await newPair(user, row.family_id, now);
      const sealed = await seal(await keyFromToken(refreshToken), JSON.stringify(pair), successorHash);
      // Using up the token is one conditional UPDATE: of two concurrent refreshes exactly one matches
      // `used_at is null`; the other waits on the row lock, matches nothing, and takes the grace path.
      const won = await db.transaction().execute(async (trx) => {
        const used = await sql`
          update warden_refresh_tokens
          set used_at = ${now.toISOString()}::timestamptz, successor_hash = ${successorHash}, successor_sealed = ${sealed}
          where token_hash = ${hash} and used_at is null
          returning token_hash`.execute(trx);
        if (used.rows.length === 0) return false;
        await sql`
          insert into warden_refresh_tokens (token_hash, family_id, generation, issued_at, idle_expires_at)
          values (${successorHash}, ${row.family_id}, ${row.generation + 1}, ${now.toISOString()}::timestamptz,
                  ${idleExpiry(now, ms(row.expires_at))}::timestamptz)`.execute(trx);
        return true;
      });
      if (!won) {
        const current = await find(hash);
        if (!current) return { ok: false, reason: 'invalid' };
        if (current.revoked_at !== null) return { ok: false, reason: 'revoked' };
        return reused(current, refreshToken, now, requestId);
      }
      await record(
        row.family_id,
        user,
        'TokenFamilyRotated',
        { generation: row.generation + 1, rotatedAt: now.toISOString() },
        requestId,
      );
      return { ok: true, pair, replayed: false };
    },

    async inspect(refreshToken) {
      if (!REFRESH_SHAPE.test(refreshToken)) return undefined;
      const row = await find(await sha256(refreshToken));
      if (!row) return undefined;
      const now = clock().getTime();
      return {
        familyId: row.family_id,
        tenantId: row.tenant_id,
        userId: row.user_id,
        clientId: row.client_id,
        scope: (row.scope ?? '').split(' ').filter(Boolean),
        issuer: row.issuer,
        active:
          row.revoked_at === null &&
          row.used_at === null &&
          ms(row.expires_at) > now &&
          ms(row.idle_expires_at) > now,
        issuedAt: new Date(row.issued_at),
        expiresAt: new Date(Math.min(ms(row.expires_at), ms(row.idle_expires_at))),
      };
    },
  };
}
