import { type Kysely, sql } from 'kysely';
import type { TenantRole } from '../../commands/identity/index.ts';
import { record as recordEvent } from '../../commands/kernel/index.ts';
import type { Tables } from '../../db/tables.ts';
import { issueAccessToken } from './access.ts';
import { randomToken, sha256 } from './crypto.ts';
import { type TokenFamilyEventType, tokenFamilyEventSchemas, tokenFamilyStreamId } from './events.ts';
import { type RevocationCache, revocationCache } from './revocation-sync.ts';
import type { RequestRef, SessionUser, TokenPair, TokenSessionDeps } from './session-types.ts';

/** A refresh token's row joined with its family's. */
export interface TokenRow {
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

export const ms = (value: Date | string) => new Date(value).getTime();
/** Refresh tokens are 256 random bits, base64url. */
export const REFRESH_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** What the parts of the token sessions share: the dependencies, the family rows, minting pairs, the audit events. */
export interface SessionContext {
  deps: TokenSessionDeps;
  db: Kysely<Tables>;
  clock: () => Date;
  /** This process's copy of the revocations. */
  revocations: RevocationCache;
  /** Appends a family lifecycle event to the family's stream (the audit trail). */
  record(
    familyId: string,
    user: { tenantId: string; userId: string },
    type: TokenFamilyEventType,
    data: Record<string, unknown>,
    request?: RequestRef,
  ): Promise<void>;
  /** A new access token and refresh token for the family's user; the refresh token's hash. */
  newPair(user: SessionUser, familyId: string, now: Date): Promise<{ pair: TokenPair; hash: string }>;
  userOf(row: TokenRow): SessionUser;
  /** When a refresh token issued now goes idle: the idle TTL, never past the family's end. */
  idleExpiry(now: Date, familyExpires: number): string;
  /** The refresh token with this hash, with its family. */
  find(hash: string): Promise<TokenRow | undefined>;
}

export function sessionContext(deps: TokenSessionDeps): SessionContext {
  const { db } = deps;
  const clock = deps.clock ?? (() => new Date());
  const revocations = revocationCache(db, deps.revocationSyncMs ?? 1000, deps.access.ttlSeconds, clock);

  async function record(
    familyId: string,
    user: { tenantId: string; userId: string },
    type: TokenFamilyEventType,
    data: Record<string, unknown>,
    request?: RequestRef,
  ) {
    const origin = typeof request === 'string' ? { requestId: request } : (request ?? {});
    await recordEvent(
      deps.store,
      tokenFamilyStreamId(familyId),
      { type, data: { familyId, ...data } },
      tokenFamilyEventSchemas,
      {
        metadata: {
          tenantId: user.tenantId,
          actorId: user.userId,
          ...origin,
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

  return { deps, db, clock, revocations, record, newPair, userOf, idleExpiry, find };
}
