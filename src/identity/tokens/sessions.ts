import { type Kysely, type QueryExecutorProvider, sql } from 'kysely';
import type { TenantRole } from '../../commands/identity/permissions.ts';
import { record as recordEvent } from '../../commands/kernel/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { type AccessTokenConfig, issueAccessToken } from './access.ts';
import { keyFromToken, open, randomToken, seal, sha256 } from './crypto.ts';
import { type TokenFamilyEventType, tokenFamilyEventSchemas, tokenFamilyStreamId } from './events.ts';
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
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  /** OAuth grants: the scopes the access token carries. */
  scope?: string;
}

/** A family started by an OAuth client (authorization code or password grant) rather than Warden's own login. */
export interface OAuthGrant {
  clientId: string;
  scope: string[];
  /** The tenant issuer the tokens name as `iss`. */
  issuer: string;
  grantType: 'authorization_code' | 'password';
  /** RFC 9449: the thumbprint of the DPoP key the tokens are bound to. */
  dpopJkt?: string | undefined;
  authTime?: Date | undefined;
  /** The browser sign-in session (OIDC `sid`). */
  sessionId?: string | undefined;
}

export interface SessionUser {
  userId: string;
  tenantId: string;
  role: TenantRole;
  platformSuperadmin: boolean;
  oauth?: OAuthGrant | undefined;
}

/** Signs an OAuth access token for a family's user and grant (the OAuth server's keys and claims). */
export type OAuthAccessIssuer = (
  user: SessionUser & { oauth: OAuthGrant },
  familyId: string,
  now: Date,
) => Promise<{ token: string; tokenId: string; expiresAt: Date }>;

export type RefreshFailure =
  | 'invalid'
  | 'expired'
  | 'revoked'
  | 'reused'
  | 'user_gone'
  /** OAuth: a scope beyond the family's was asked for, or the DPoP key is not the family's. */
  | 'invalid_scope'
  | 'dpop_mismatch';
export type RevokeReason =
  | 'logout'
  | 'reuse_detected'
  | 'user_gone'
  | 'revoked_by_client'
  | 'code_reused'
  | 'consent_revoked'
  | 'client_deleted';

/** What a refresh must match besides the token: the client it was issued to, its DPoP key, a narrower scope. */
export interface RefreshExpectation {
  /** null (Warden's own sign-in) or the authenticated OAuth client. */
  clientId: string | null;
  dpopJkt?: string | undefined;
  scope?: readonly string[] | undefined;
}

/** A refresh token as introspection (RFC 7662) sees it. */
export interface RefreshTokenInfo {
  familyId: string;
  tenantId: string;
  userId: string;
  clientId: string | null;
  scope: string[];
  issuer: string | null;
  active: boolean;
  issuedAt: Date;
  expiresAt: Date;
}
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
  /** Signs OAuth access tokens for families an OAuth client started (absent: no OAuth families). */
  oauthAccess?: OAuthAccessIssuer;
  /**
   * How stale this process's copy of the revocations may get before a check fetches what is new
   * (WARDEN_REVOCATION_SYNC_MS). A logout reaches the other processes within it; this one at once.
   */
  revocationSyncMs?: number;
}

export interface TokenSessions {
  /** Login: a new family with its first pair (`familyId` when the caller must know it first, e.g. a code redemption). */
  start(user: SessionUser, requestId?: string, familyId?: string): Promise<TokenPair>;
  /**
   * Rotates a refresh token: it is used up and a new pair issued. A used-up token revokes its whole
   * family, except the newest token's immediate predecessor within the grace window, which gets the
   * pair already issued in its place. `tenantId`, when given, must be the family's tenant.
   */
  refresh(
    refreshToken: string,
    tenantId?: string,
    requestId?: string,
    expect?: RefreshExpectation,
  ): Promise<RefreshResult>;
  /** A refresh token's family and state, for introspection and revocation; undefined when unknown. */
  inspect(refreshToken: string): Promise<RefreshTokenInfo | undefined>;
  /** Revokes a family (and with it every access token issued in it), recording why. */
  revoke(familyId: string, reason: RevokeReason, requestId?: string): Promise<boolean>;
  /** Revokes every live family of an OAuth client in a tenant (of one user, when given). */
  revokeClientFamilies(
    tenantId: string,
    clientId: string,
    reason: RevokeReason,
    userId?: string,
    requestId?: string,
  ): Promise<number>;
  /** Refuses one access token until it expires (RFC 7009 revocation of an access token). */
  revokeAccessToken(tokenId: string, expiresAt: Date): Promise<void>;
  /** Logout: revokes the family and refuses the access token's id until it expires. */
  logout(session: { familyId: string; tokenId: string; expiresAt: Date }, requestId?: string): Promise<void>;
  /**
   * True when the access token's id was logged out or its family revoked. Answered from memory: the
   * revocations are fetched incrementally at most once per `revocationSyncMs`.
   */
  isRevoked(tokenId: string, familyId?: string): Promise<boolean>;
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
  issued_at: Date | string;
  client_id: string | null;
  scope: string | null;
  issuer: string | null;
  dpop_jkt: string | null;
  grant_type: 'authorization_code' | 'password' | null;
  auth_time: Date | string | null;
  session_id: string | null;
}

const ms = (value: Date | string) => new Date(value).getTime();
/** Refresh tokens are 256 random bits, base64url. */
const REFRESH_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Marks live families revoked — one family, or every one of a user in a tenant — and answers those
 * it marked. The one write of the revocation columns: `revoked_recorded_at` is what every process's
 * revocation sync fetches. `db` may be a transaction (a process manager's handling one).
 */
export async function revokeFamilies(
  db: QueryExecutorProvider,
  which: { familyId: string } | { tenantId: string; userId: string },
  reason: RevokeReason,
  at: string,
): Promise<{ family_id: string; tenant_id: string; user_id: string }[]> {
  const where =
    'familyId' in which
      ? sql`family_id = ${which.familyId}`
      : sql`tenant_id = ${which.tenantId} and user_id = ${which.userId}`;
  const { rows } = await sql<{ family_id: string; tenant_id: string; user_id: string }>`
    update warden_token_families
    set revoked_at = ${at}::timestamptz, revoked_reason = ${reason}, revoked_recorded_at = now()
    where ${where} and revoked_at is null
    returning family_id, tenant_id, user_id`.execute(db);
  return rows;
}

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
    await recordEvent(
      deps.store,
      tokenFamilyStreamId(familyId),
      { type, data: { familyId, ...data } },
      tokenFamilyEventSchemas,
      {
        metadata: {
          tenantId: user.tenantId,
          actorId: user.userId,
          ...(requestId === undefined ? {} : { requestId }),
        },
      },
    );
  }

  async function newPair(user: SessionUser, familyId: string, now: Date) {
    const { oauth } = user;
    let access: { token: string; expiresAt: Date };
    if (oauth) {
      if (!deps.oauthAccess) throw new Error('an OAuth family needs the OAuth access-token issuer');
      access = await deps.oauthAccess({ ...user, oauth }, familyId, now);
    } else {
      access = await issueAccessToken(deps.keys, deps.access, { ...user, familyId }, now);
    }
    const refreshToken = randomToken(256);
    const pair: TokenPair = {
      access_token: access.token,
      refresh_token: refreshToken,
      token_type: oauth?.dpopJkt ? 'DPoP' : 'Bearer',
      expires_in: Math.round((access.expiresAt.getTime() - now.getTime()) / 1000),
      ...(oauth ? { scope: oauth.scope.join(' ') } : {}),
    };
    return { pair, hash: await sha256(refreshToken) };
  }

  const userOf = (row: TokenRow): SessionUser => ({
    userId: row.user_id,
    tenantId: row.tenant_id,
    role: row.role,
    platformSuperadmin: row.platform_superadmin,
    ...(row.client_id
      ? {
          oauth: {
            clientId: row.client_id,
            scope: (row.scope ?? '').split(' ').filter(Boolean),
            issuer: row.issuer ?? '',
            grantType: row.grant_type ?? 'authorization_code',
            dpopJkt: row.dpop_jkt ?? undefined,
            authTime: row.auth_time ? new Date(row.auth_time) : undefined,
            sessionId: row.session_id ?? undefined,
          },
        }
      : {}),
  });

  const idleExpiry = (now: Date, familyExpires: number) =>
    new Date(Math.min(now.getTime() + deps.refresh.idleTtlSeconds * 1000, familyExpires)).toISOString();

  async function revokeFamily(familyId: string, reason: RevokeReason, now: Date) {
    const [revoked] = await revokeFamilies(db, { familyId }, reason, now.toISOString());
    revocations.revokeFamily(familyId);
    return revoked;
  }

  async function find(hash: string): Promise<TokenRow | undefined> {
    const found = await sql<TokenRow>`
      select t.token_hash, t.family_id, t.generation, t.idle_expires_at, t.used_at, t.successor_hash,
             t.successor_sealed, f.tenant_id, f.user_id, f.role, f.platform_superadmin, f.expires_at, f.revoked_at,
             f.created_at as issued_at, f.client_id, f.scope, f.issuer, f.dpop_jkt, f.grant_type, f.auth_time,
             f.session_id
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
          ...(o ? { clientId: o.clientId, scope: o.scope, grantType: o.grantType } : {}),
        },
        requestId,
      );
      await Promise.all([rows, event]);
      return pair;
    },

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

    async revoke(familyId, reason, requestId) {
      const revoked = await revokeFamily(familyId, reason, clock());
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
        if (await this.revoke(family_id, reason, requestId)) count++;
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
    has(tokenId: string, familyId?: string): boolean {
      return tokens.has(tokenId) || (familyId !== undefined && families.has(familyId));
    },
    revokeToken(tokenId: string, expiresAt: Date) {
      tokens.set(tokenId, expiresAt.getTime());
    },
    revokeFamily(familyId: string) {
      families.set(familyId, Date.now());
    },
  };
}
