import type { Kysely } from 'kysely';
import type { TenantRole } from '../../commands/identity/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { AccessTokenConfig } from './access.ts';
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
  /** The user's tenant is suspended and they are not its owner or the superadmin (nothing used up). */
  | 'tenant_suspended'
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
  | 'client_deleted'
  | 'password_changed'
  | 'role_lowered'
  | 'tenant_deleted';

/**
 * The user as a refresh finds them now: their role; `refused` when they may not refresh now but may
 * again later (their tenant is suspended), so nothing is used up or revoked; undefined once they are
 * gone for good (the family is revoked).
 */
export type CurrentUser =
  | { role: TenantRole; platformSuperadmin: boolean }
  | { refused: 'tenant_suspended' }
  | undefined;

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
   * a removed (or no longer active) user — undefined — loses the whole family, and a refused one (a
   * suspended tenant's member) gets nothing this time but keeps the family. Without it, the role given
   * at login holds for the family's life.
   */
  currentUser?: (tenantId: string, userId: string) => Promise<CurrentUser>;
  clock?: () => Date;
  /** Signs OAuth access tokens for families an OAuth client started (absent: no OAuth families). */
  oauthAccess?: OAuthAccessIssuer;
  /**
   * How stale this process's copy of the revocations may get before a check fetches what is new
   * (WARDEN_REVOCATION_SYNC_MS). A logout reaches the other processes within it; this one at once.
   */
  revocationSyncMs?: number;
}

/** The request behind a lifecycle event: its id alone, or with the client's address and User-Agent (audit metadata). */
export type RequestRef = string | { requestId: string; clientAddress?: string; userAgent?: string };

export interface TokenSessions {
  /** Login: a new family with its first pair (`familyId` when the caller must know it first, e.g. a code redemption). */
  start(user: SessionUser, request?: RequestRef, familyId?: string): Promise<TokenPair>;
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
  /**
   * Revokes every live family of a user in a tenant (their own sign-ins and the OAuth grants they
   * gave), except `keep` (the sign-in that made the change), recording why; answers how many.
   */
  revokeUser(
    which: { tenantId: string; userId: string; keep?: string | undefined },
    reason: RevokeReason,
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
