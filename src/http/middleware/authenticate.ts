import type { MiddlewareHandler } from 'hono';
import { LRUCache } from 'lru-cache';
import type { Permission } from '../../commands/identity/index.ts';
import { ownerOnlyPermissions, permissionsOf, platformPermissions } from '../../commands/identity/index.ts';
import type { Principal } from '../../identity/index.ts';
import {
  type AccessTokenConfig,
  type KeyRing,
  type TokenSessions,
  type VerifiedAccessToken,
  verifyAccessToken,
} from '../../identity/tokens/index.ts';
import type { ClientRegistry, OAuthKeys, ReplayGuard } from '../../oauth/index.ts';
import {
  asOAuthAccessToken,
  type VerifiedOAuthAccessToken,
  verifyDpopProof,
  verifyOAuthAccessToken,
} from '../../oauth/index.ts';
import { cacheClock } from '../../runtime/cache.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse } from '../kit/index.ts';

export interface AuthenticateDeps {
  keys: KeyRing;
  sessions: Pick<TokenSessions, 'isRevoked'>;
  access: Omit<AccessTokenConfig, 'ttlSeconds'>;
  clock?: () => Date;
  /** Tenant issuers' keys: access tokens OAuth clients got from a tenant act in that tenant (scoped). */
  oauth?: { keys: OAuthKeys; replay: ReplayGuard; clients: Pick<ClientRegistry, 'get'> };
}

// RFC 6750 token68; anything else after "Bearer " (or "DPoP ", RFC 9449) is not a token.
const BEARER = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Authentication: a valid `Authorization: Bearer <access token>` sets `principal`. No header: the
 * request goes on without one (`requirePermission` answers 401 where it matters). A token that is
 * malformed, expired, tampered, signed by an unknown key or another algorithm, for another issuer or
 * audience, of another tenant than the resolved one (unless it is the platform superadmin's), logged out, or of a revoked family: 401 with
 * `WWW-Authenticate: Bearer error="invalid_token"`, the same answer for each so it tells an attacker nothing.
 * Mount after tenant resolution.
 */
export function authenticate(deps: AuthenticateDeps): MiddlewareHandler<AppEnv> {
  const clock = deps.clock ?? (() => new Date());
  const verified = verifiedTokens(VERIFIED_CACHE_SIZE, clock);
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined) return next();
    const invalid = (detail: string) => {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      return problemResponse(c, 401, 'invalid-token', detail);
    };
    const match = BEARER.exec(header.trim());
    if (!match?.[2]) return invalid('the Authorization header must be "Bearer <access token>"');
    const raw = match[2];
    const scheme = match[1]?.toLowerCase();
    const now = clock();
    const tenant = c.get('tenant');
    // A token verified here before is one of Warden's own (an OAuth access token never enters the
    // cache), so a hit skips the OAuth check, which decodes the token's header and claims.
    const known = scheme === 'bearer' ? verified.get(raw, now) : undefined;
    const jwt =
      !known && deps.oauth && tenant
        ? asOAuthAccessToken(raw, deps.access.issuer, deps.oauth.keys.signatures)
        : undefined;
    if (jwt && deps.oauth && tenant) {
      const oauth = await verifyOAuthAccessToken(deps.oauth.keys, tenant.id, jwt, deps.access, now);
      if (!oauth) return invalid('the access token is not valid');
      if (await deps.sessions.isRevoked(oauth.tokenId, oauth.familyId))
        return invalid('the access token is not valid');
      // A deleted client's tokens stop working with it, a narrowed client's narrow with it: here at
      // once, in other processes within the client cache's lifetime (at most the revocation sync interval).
      const client = await deps.oauth.clients.get(tenant.id, oauth.clientId);
      if (!client) return invalid('the access token is not valid');
      if (oauth.jkt || scheme === 'dpop') {
        // RFC 9449 §7: a bound token needs the DPoP scheme and a proof of its key for this request.
        const proof = c.req.header('dpop');
        if (scheme !== 'dpop' || !proof || !oauth.jkt)
          return invalid('a DPoP-bound token needs the DPoP scheme and proof');
        try {
          const { jkt } = await verifyDpopProof(
            proof,
            { method: c.req.method, url: c.req.url, accessToken: raw },
            { now, replay: deps.oauth.replay },
          );
          if (jkt !== oauth.jkt) return invalid('the DPoP proof is not of the key the token is bound to');
        } catch {
          return invalid('the DPoP proof is not valid');
        }
      }
      c.set('principal', oauthPrincipal(oauth, client.scopes));
      return next();
    }
    if (scheme !== 'bearer') return invalid('the Authorization header must be "Bearer <access token>"');
    let token = known;
    if (!token) {
      const result = await verifyAccessToken(deps.keys, deps.access, raw, now);
      if (!result.ok) return invalid('the access token is not valid');
      token = result.token;
      verified.set(raw, token, now);
    }
    // A token acts only in its own tenant; the platform superadmin's acts in every tenant.
    if (tenant && tenant.id !== token.tenantId && !token.platformSuperadmin)
      return invalid('the access token is not valid');
    if (await deps.sessions.isRevoked(token.tokenId, token.familyId))
      return invalid('the access token is not valid');
    c.set('principal', {
      userId: token.userId,
      tenantId: tenant?.id ?? token.tenantId,
      role: token.role,
      platformSuperadmin: token.platformSuperadmin,
      permissions: permissionsOf(token.role, token.platformSuperadmin),
      tokenId: token.tokenId,
      tokenExpiresAt: token.expiresAt,
      sessionId: token.familyId,
    });
    return next();
  };
}

/**
 * The caller an OAuth access token stands for. A user's token may do what the user's role may, its
 * scopes name and its client may still ask for; a client-credentials token (the client is its own
 * subject) what its scopes name and its client still holds, never an owner-only power. Neither ever
 * carries platform powers.
 */
function oauthPrincipal(token: VerifiedOAuthAccessToken, clientScopes: readonly string[]): Principal {
  const forUser = token.subject !== token.clientId && token.role !== undefined;
  const base = forUser
    ? permissionsOf(token.role ?? 'member')
    : new Set<Permission>(token.scope as Permission[]);
  const never = new Set<Permission>([...platformPermissions, ...(forUser ? [] : ownerOnlyPermissions)]);
  const allowed = (p: Permission) => token.scope.includes(p) && clientScopes.includes(p) && !never.has(p);
  // No conditional spread in the literal: Node 20's V8 builds such an object on a slow path, and
  // every later read of it is slow too (this runs on every request an OAuth token makes).
  const principal: Principal = {
    userId: token.subject,
    tenantId: token.tenantId,
    role: token.role ?? 'member',
    platformSuperadmin: false,
    permissions: new Set([...base].filter(allowed)),
    tokenId: token.tokenId,
    tokenExpiresAt: token.expiresAt,
    clientId: token.clientId,
  };
  if (token.familyId) principal.sessionId = token.familyId;
  return principal;
}

/** Tokens verified at once in this process, at most (the least recently used go first). */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Access tokens this process has verified, until they expire. A client sends the same token for up
 * to 15 minutes; its signature, issuer, audience and claims cannot change, so checking them once is
 * enough (an Ed25519 verification costs more than the rest of an authenticated request). Revocation
 * is still checked on every request; the key that signed it stays published until the token expires.
 */
function verifiedTokens(max: number, clock: () => Date) {
  const entries = new LRUCache<string, VerifiedAccessToken>({ max, ...cacheClock(clock) });
  return {
    get(token: string, now: Date): VerifiedAccessToken | undefined {
      const hit = entries.get(token);
      // lru-cache keeps an entry through its last millisecond; a token is expired at `exp` itself.
      return hit && hit.expiresAt.getTime() > now.getTime() ? hit : undefined;
    },
    set(token: string, verified: VerifiedAccessToken, now: Date) {
      const ttl = verified.expiresAt.getTime() - now.getTime();
      if (ttl > 0) entries.set(token, verified, { ttl });
    },
  };
}
