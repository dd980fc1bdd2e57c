import { errors } from 'jose';
import { z } from 'zod';
import { tenantRoles } from '../../commands/identity/index.ts';
import { signEdDSAJwt, verifyEdDSAJwt } from '../../crypto/eddsa-jwt.ts';
import { type KeyRing, SIGNING_ALGORITHM } from './keys.ts';

/** The `typ` header of access tokens (RFC 9068): an ID token or another JWT cannot pass for one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface AccessTokenConfig {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** What an access token says about its bearer. */
export interface AccessClaims {
  userId: string;
  tenantId: string;
  role: (typeof tenantRoles)[number];
  platformSuperadmin: boolean;
  /** The refresh-token family (the session) it was issued in: logout and reuse detection end it. */
  familyId: string;
}

export interface VerifiedAccessToken extends AccessClaims {
  tokenId: string;
  expiresAt: Date;
}

const Payload = z.object({
  sub: z.uuid(),
  tid: z.uuid(),
  role: z.enum(tenantRoles),
  sid: z.uuid(),
  jti: z.string().min(1).max(100),
  exp: z.number().int(),
  sa: z.boolean().optional(),
});

/** Signs an access token with the active key: iss, aud, sub, tid, role, sid, jti, iat, nbf, exp. */
export async function issueAccessToken(
  keys: KeyRing,
  config: AccessTokenConfig,
  claims: AccessClaims,
  now: Date,
): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
  const { kid, privateKey } = await keys.signingKey();
  const tokenId = crypto.randomUUID();
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + config.ttlSeconds;
  const token = await signEdDSAJwt(
    { kid, typ: ACCESS_TOKEN_TYPE },
    {
      tid: claims.tenantId,
      role: claims.role,
      sid: claims.familyId,
      ...(claims.platformSuperadmin ? { sa: true } : {}),
      iss: config.issuer,
      aud: config.audience,
      sub: claims.userId,
      jti: tokenId,
      iat,
      nbf: iat,
      exp,
    },
    privateKey,
  );
  return { token, tokenId, expiresAt: new Date(exp * 1000) };
}

/** Why a token was refused; the HTTP edge answers every one with the same 401 `invalid_token`. */
export type InvalidTokenReason =
  | 'malformed'
  | 'expired'
  | 'signature'
  | 'claims'
  | 'unknown_key'
  | 'algorithm';

export type AccessVerification =
  | { ok: true; token: VerifiedAccessToken }
  | { ok: false; reason: InvalidTokenReason };

/**
 * Verifies an access token: EdDSA only (pinned, so `alg: none` and HMAC confusion fail), a kid the
 * key ring publishes, the issuer, the audience, `typ`, and exp/nbf against the injected clock.
 */
export async function verifyAccessToken(
  keys: KeyRing,
  config: Omit<AccessTokenConfig, 'ttlSeconds'>,
  token: string,
  now: Date,
): Promise<AccessVerification> {
  const getKey = async (header: { alg?: string; kid?: string }) => {
    if (header.alg !== SIGNING_ALGORITHM || typeof header.kid !== 'string') {
      throw new errors.JOSEAlgNotAllowed('unexpected algorithm or no kid');
    }
    const key = await keys.verificationKey(header.kid);
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key;
  };
  try {
    const { payload } = await verifyEdDSAJwt(token, getKey, {
      issuer: config.issuer,
      audience: config.audience,
      typ: ACCESS_TOKEN_TYPE,
      currentDate: now,
      requiredClaims: ['sub', 'jti', 'exp', 'iat', 'nbf', 'tid', 'role', 'sid'],
    });
    const claims = Payload.safeParse(payload);
    if (!claims.success) return { ok: false, reason: 'claims' };
    const c = claims.data;
    return {
      ok: true,
      token: {
        userId: c.sub,
        tenantId: c.tid,
        role: c.role,
        platformSuperadmin: c.sa === true,
        familyId: c.sid,
        tokenId: c.jti,
        expiresAt: new Date(c.exp * 1000),
      },
    };
  } catch (error) {
    if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
    if (error instanceof errors.JWTClaimValidationFailed) return { ok: false, reason: 'claims' };
    if (error instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'signature' };
    if (error instanceof errors.JWKSNoMatchingKey) return { ok: false, reason: 'unknown_key' };
    if (error instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: 'algorithm' };
    if (error instanceof errors.JOSEError) return { ok: false, reason: 'malformed' };
    // Anything else (the database behind the key ring is down…) is not the token's fault.
    throw error;
  }
}
