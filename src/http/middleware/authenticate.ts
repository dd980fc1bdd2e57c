import type { MiddlewareHandler } from 'hono';
import { permissionsOf } from '../../identity/permissions.ts';
import {
  type AccessTokenConfig,
  type KeyRing,
  type TokenSessions,
  type VerifiedAccessToken,
  verifyAccessToken,
} from '../../identity/tokens/index.ts';
import type { AppEnv } from '../env.ts';
import { problemResponse } from '../problem.ts';

export interface AuthenticateDeps {
  keys: KeyRing;
  sessions: Pick<TokenSessions, 'isRevoked'>;
  access: Omit<AccessTokenConfig, 'ttlSeconds'>;
  clock?: () => Date;
}

// RFC 6750 token68; anything else after "Bearer " is not a token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

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
  const verified = verifiedTokens(VERIFIED_CACHE_SIZE);
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined) return next();
    const invalid = (detail: string) => {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      return problemResponse(c, 401, 'invalid-token', detail);
    };
    const match = BEARER.exec(header.trim());
    if (!match?.[1]) return invalid('the Authorization header must be "Bearer <access token>"');
    const now = clock();
    let token = verified.get(match[1], now);
    if (!token) {
      const result = await verifyAccessToken(deps.keys, deps.access, match[1], now);
      if (!result.ok) return invalid('the access token is not valid');
      token = result.token;
      verified.set(match[1], token);
    }
    const tenant = c.get('tenant');
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

/** Tokens verified at once in this process, at most (the least recently used go first). */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Access tokens this process has verified, until they expire. A client sends the same token for up
 * to 15 minutes; its signature, issuer, audience and claims cannot change, so checking them once is
 * enough (an Ed25519 verification costs more than the rest of an authenticated request). Revocation
 * is still checked on every request; the key that signed it stays published until the token expires.
 */
function verifiedTokens(max: number) {
  const entries = new Map<string, VerifiedAccessToken>();
  return {
    get(token: string, now: Date): VerifiedAccessToken | undefined {
      const hit = entries.get(token);
      if (!hit) return undefined;
      entries.delete(token);
      if (hit.expiresAt.getTime() <= now.getTime()) return undefined;
      entries.set(token, hit);
      return hit;
    },
    set(token: string, verified: VerifiedAccessToken) {
      entries.set(token, verified);
      if (entries.size > max) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
  };
}
