import { type Kysely, sql } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { TenantRole } from '../permissions.ts';
import { type AccessTokenConfig, issueAccessToken } from './access.ts';
import { keyFromToken, open, randomToken, seal, sha256 } from './crypto.ts';
import { type TokenFamilyEventType, tokenFamilyStreamId } from './events.ts';
import type { KeyRing } from './keys.ts';

export interface RefreshConfig {
  /** A family (a sign-in) ends this long after login, however often it is refreshed. */
  absoluteTtlSeconds: number;
  /** A refresh token unused this long expires. */
  idleTtlSeconds: number;
  /** The immediate predecessor of the newest token may be presented again this long after its use. */
  graceSeconds: number;
}

/** What login, refresh and the grace replay answer (OAuth 2 token response field names). */
export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface SessionUser {
  userId: string;
  tenantId: string;
  role: TenantRole;
  platformSuperadmin: boolean;
}

export type RefreshFailure = 'invalid' | 'expired' | 'revoked' | 'reused' | 'user_gone';
type RevokeReason = 'logout' | 'reuse_detected' | 'user_gone';
export type RefreshResult =
  | { ok: true; pair: TokenPair; replayed: boolean }
  | { ok: false; reason: RefreshFailure };

export interface TokenSessionDeps {
  db: Kysely<Tables>;
  store: EventStore;
  keys: KeyRing;
  access: AccessTokenConfig;
  refresh: RefreshConfig;
  /**
   * The user as they are now, read on every refresh: a changed role reaches the next access token, and
   * a removed (or no longer active) user — undefined — loses the whole family. Without it, the role
   * given at login holds for the family's life.
   */
  currentUser?: (
    tenantId: string,
    userId: string,
  ) => Promise<{ role: TenantRole; platformSuperadmin: boolean } | undefined>;
  clock?: () => Date;
  /**
   * How stale this process's copy of the revocations may get before a check fetches what is new
   * (WARDEN_REVOCATION_SYNC_MS). A logout reaches the other processes within it; this one at once.
   */
  revocationSyncMs?: number;
}

export interface TokenSessions {
  /** Login: a new family with its first pair. */
  start(user: SessionUser, requestId?: string): Promise<TokenPair>;
  /**
   * Rotates a refresh token: it is used up and a new pair issued. A used-up token revokes its whole
   * family, except the newest token's immediate predecessor within the grace window, which gets the
   * pair already issued in its place. `tenantId`, when given, must be the family's tenant.
   */
  refresh(refreshToken: string, tenantId?: string, requestId?: string): Promise<RefreshResult>;
  /** Logout: revokes the family and refuses the access token's id until it expires. */
  logout(session: { familyId: string; tokenId: string; expiresAt: Date }, requestId?: string): Promise<void>;
  /**
   * True when the access token's id was logged out or its family revoked. Answered from memory: the
   * revocations are fetched incrementally at most once per `revocationSyncMs`.
   */
  isRevoked(tokenId: string, familyId: string): Promise<boolean>;
  /** Deletes denylist entries and families past their expiry (correctness does not depend on it). */
  sweep(): Promise<number>;
}

interface TokenRow {
  token_hash: string;
  family_id: string;
  generation: number;
  idle_expires_at: Date | string;
  used_at: Date | string | null;
  successor_hash: string | null;
  successor_sealed: string | null;
  tenant_id: string;
  user_id: string;
  role: TenantRole;
  platform_superadmin: boolean;
  expires_at: Date | string;
  revoked_at: Date | string | null;
}

const ms = (value: Date | string) => new Date(value).getTime();

/** Refresh-token families in PostgreSQL/PGlite, with their lifecycle recorded as events for the audit trail. */
export function tokenSessions(deps: TokenSessionDeps): TokenSessions {
  const { db } = deps;
  const clock = deps.clock ?? (() => new Date());
  const revocations = revocationCache(db, deps.revocationSyncMs ?? 1000, deps.access.ttlSeconds);

  async function record(
    familyId: string,
    user: { tenantId: string; userId: string },
    type: TokenFamilyEventType,
    data: Record<string, unknown>,
    requestId?: string,
  ) {
    await deps.store.append(
      tokenFamilyStreamId(familyId),
      [
        {
          id: crypto.randomUUID(),
          type,
          data: { familyId, ...data },
          metadata: {
            tenantId: user.tenantId,
            actorId: user.userId,
            ...(requestId === undefined ? {} : { requestId }),
          },
        },
      ],
      { expected: 'any' },
    );
  }

  async function newPair(user: SessionUser, familyId: string, now: Date) {
    const access = await issueAccessToken(deps.keys, deps.access, { ...user, familyId }, now);
    const refreshToken = randomToken(256);
    const pair: TokenPair = {
      access_token: access.token,
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: deps.access.ttlSeconds,
    };
    return { pair, hash: await sha256(refreshToken) };
  }

  const idleExpiry = (now: Date, familyExpires: number) =>
    new Date(Math.min(now.getTime() + deps.refresh.idleTtlSeconds * 1000, familyExpires)).toISOString();

  async function revokeFamily(familyId: string, reason: RevokeReason, now: Date) {
    const revoked = await sql<{ tenant_id: string; user_id: string }>`
      update warden_token_families
      set revoked_at = ${now.toISOString()}::timestamptz, revoked_reason = ${reason}, revoked_recorded_at = now()
      where family_id = ${familyId} and revoked_at is null
      returning tenant_id, user_id`.execute(db);
    revocations.revokeFamily(familyId);
    return revoked.rows[0];
  }

  async function find(hash: string): Promise<TokenRow | undefined> {
    const found = await sql<TokenRow>`
      select t.token_hash, t.family_id, t.generation, t.idle_expires_at, t.used_at, t.successor_hash,
             t.successor_sealed, f.tenant_id, f.user_id, f.role, f.platform_superadmin, f.expires_at, f.revoked_at
      from warden_refresh_tokens t join warden_token_families f on f.family_id = t.family_id
      where t.token_hash = ${hash}`.execute(db);
    return found.rows[0];
  }

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
    const revoked = await revokeFamily(row.family_id, 'reuse_detected', now);
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
    async start(user, requestId) {
      const now = clock();
      const familyId = crypto.randomUUID();
      const expires = now.getTime() + deps.refresh.absoluteTtlSeconds * 1000;
      const { pair, hash } = await newPair(user, familyId, now);
      // The rows and the audit event are independent writes: sent together, a login waits for one commit, not two.
      // One statement: the family and its first token commit together.
      const rows = sql`
        with family as (
          insert into warden_token_families (family_id, tenant_id, user_id, role, platform_superadmin, created_at, expires_at)
          values (${familyId}, ${user.tenantId}, ${user.userId}, ${user.role}, ${user.platformSuperadmin},
                  ${now.toISOString()}::timestamptz, ${new Date(expires).toISOString()}::timestamptz)
          returning family_id
        )
        insert into warden_refresh_tokens (token_hash, family_id, generation, issued_at, idle_expires_at)
        select ${hash}, family_id, 0, ${now.toISOString()}::timestamptz, ${idleExpiry(now, expires)}::timestamptz
        from family`.execute(db);
      const event = record(
        familyId,
        user,
        'TokenFamilyIssued',
        {
          userId: user.userId,
          tenantId: user.tenantId,
          issuedAt: now.toISOString(),
          expiresAt: new Date(expires).toISOString(),
        },
        requestId,
      );
      await Promise.all([rows, event]);
      return pair;
    },

    async refresh(refreshToken, tenantId, requestId) {
      const now = clock();
      // Anything not shaped like our tokens is refused before it costs a hash and a query.
      if (!/^[A-Za-z0-9_-]{43}$/.test(refreshToken)) return { ok: false, reason: 'invalid' };
      const hash = await sha256(refreshToken);
      const row = await find(hash);
      if (!row || (tenantId !== undefined && row.tenant_id !== tenantId))
        return { ok: false, reason: 'invalid' };
      if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (ms(row.expires_at) <= now.getTime()) return { ok: false, reason: 'expired' };
      if (row.used_at !== null) return reused(row, refreshToken, now, requestId);
      if (ms(row.idle_expires_at) <= now.getTime()) return { ok: false, reason: 'expired' };

      let user: SessionUser = {
        userId: row.user_id,
        tenantId: row.tenant_id,
        role: row.role,
        platformSuperadmin: row.platform_superadmin,
      };
      if (deps.currentUser) {
        const current = await deps.currentUser(row.tenant_id, row.user_id);
        if (!current) {
          if (await revokeFamily(row.family_id, 'user_gone', now)) {
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

    async logout(session, requestId) {
      const now = clock();
      await sql`
        insert into warden_revoked_access_tokens (jti, expires_at)
        values (${session.tokenId}, ${session.expiresAt.toISOString()}::timestamptz)
        on conflict (jti) do nothing`.execute(db);
      revocations.revokeToken(session.tokenId, session.expiresAt);
      const revoked = await revokeFamily(session.familyId, 'logout', now);
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

    async isRevoked(tokenId, familyId) {
      await revocations.fresh();
      return revocations.has(tokenId, familyId);
    },

    async sweep() {
      const now = clock();
      const at = now.toISOString();
      // A family's row outlives it by one access-token lifetime: its last access tokens still ask about it.
      const gone = new Date(now.getTime() - deps.access.ttlSeconds * 1000).toISOString();
      const denied =
        await sql`delete from warden_revoked_access_tokens where expires_at <= ${at}::timestamptz`.execute(
          db,
        );
      const tokens = await sql`
        delete from warden_refresh_tokens where family_id in
          (select family_id from warden_token_families where expires_at <= ${gone}::timestamptz)`.execute(db);
      const families =
        await sql`delete from warden_token_families where expires_at <= ${gone}::timestamptz`.execute(db);
      return (
        Number(denied.numAffectedRows ?? 0n) +
        Number(tokens.numAffectedRows ?? 0n) +
        Number(families.numAffectedRows ?? 0n)
      );
    },
  };
}

/**
 * This process's copy of the revoked access-token ids and token families. `fresh()` fetches what was
 * recorded since the last fetch (less a minute of overlap, for writes that committed late) once the
 * copy is older than `syncMs`, one query for both, shared by concurrent callers. Token ids are kept
 * until the token expires; families until every access token issued in them has expired.
 */
function revocationCache(db: Kysely<Tables>, syncMs: number, accessTtlSeconds: number) {
  const tokens = new Map<string, number>();
  const families = new Map<string, number>();
  let since: string | null = null;
  let syncedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | null = null;
  const familyLifeMs = (accessTtlSeconds + 120) * 1000;

  async function sync() {
    const started = performance.now();
    const { rows } = await sql<{ now: Date | string; tokens: [string, string][]; families: string[] }>`
      select now() as now,
        coalesce((select json_agg(json_build_array(jti, expires_at)) from warden_revoked_access_tokens
                  where ${since}::timestamptz is null or recorded_at > ${since}::timestamptz), '[]') as tokens,
        coalesce((select json_agg(family_id) from warden_token_families
                  where revoked_recorded_at is not null
                    and (${since}::timestamptz is null or revoked_recorded_at > ${since}::timestamptz)), '[]') as families`.execute(
      db,
    );
    const row = rows[0];
    if (!row) return;
    const parse = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);
    for (const [jti, expires] of parse(row.tokens)) tokens.set(jti, Date.parse(expires));
    for (const family of parse(row.families)) if (!families.has(family)) families.set(family, Date.now());
    since = new Date(new Date(row.now).getTime() - 60_000).toISOString();
    syncedAt = started;
    prune();
  }

  function prune() {
    const now = Date.now();
    for (const [family, seen] of families) if (now - seen > familyLifeMs) families.delete(family);
    for (const [jti, expires] of tokens) if (expires < now - 60_000) tokens.delete(jti);
  }

  return {
    async fresh(): Promise<void> {
      if (performance.now() - syncedAt < syncMs) return;
      pending ??= sync().finally(() => {
        pending = null;
      });
      await pending;
    },
    has(tokenId: string, familyId: string): boolean {
      return tokens.has(tokenId) || families.has(familyId);
    },
    revokeToken(tokenId: string, expiresAt: Date) {
      tokens.set(tokenId, expiresAt.getTime());
    },
    revokeFamily(familyId: string) {
      families.set(familyId, Date.now());
    },
  };
}
