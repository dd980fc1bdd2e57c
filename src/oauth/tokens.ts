import { errors, type JWTPayload, SignJWT } from 'jose';
import { z } from 'zod';
import { tenantRoles } from '../commands/identity/index.ts';
import type { IdTokenAlg } from '../commands/oauth/index.ts';
import { sha256Of } from '../crypto/digest.ts';
import { type CompactJwt, parseCompactJwt, signEdDSAJwt, verifyEdDSAJwt } from '../crypto/eddsa-jwt.ts';
import type { SignatureMemo } from '../crypto/signature-memo.ts';
import { base64url } from '../identity/index.ts';
import type { OAuthKeys } from './keys.ts';

/** RFC 9068 access tokens: an ID token or another JWT cannot pass for one. */
export const OAUTH_ACCESS_TOKEN_TYPE = 'at+jwt';
const ACCESS_ALG = 'EdDSA';

export interface OAuthAccessClaims {
  tenantId: string;
  issuer: string;
  /** The user, or the client itself for client credentials. */
  subject: string;
  clientId: string;
  scope: readonly string[];
  /** The user's tenant role when there is a user. */
  role?: (typeof tenantRoles)[number] | undefined;
  /** The refresh-token family (grant) it belongs to: revoking the grant refuses it. */
  familyId?: string | undefined;
  /** RFC 9449: thumbprint of the DPoP key it is bound to. */
  jkt?: string | undefined;
  authTime?: Date | undefined;
}

/** Signs an OAuth access token with the tenant's EdDSA key. */
export async function issueOAuthAccessToken(
  keys: OAuthKeys,
  config: { audience: string; ttlSeconds: number },
  claims: OAuthAccessClaims,
  now: Date,
): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
  const { kid, key } = await keys.signer(claims.tenantId, ACCESS_ALG);
  const tokenId = crypto.randomUUID();
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + config.ttlSeconds;
  const token = await signEdDSAJwt(
    { kid, typ: OAUTH_ACCESS_TOKEN_TYPE },
    {
      tid: claims.tenantId,
      client_id: claims.clientId,
      scope: claims.scope.join(' '),
      ...(claims.role ? { role: claims.role } : {}),
      ...(claims.familyId ? { sid: claims.familyId } : {}),
      ...(claims.jkt ? { cnf: { jkt: claims.jkt } } : {}),
      ...(claims.authTime ? { auth_time: Math.floor(claims.authTime.getTime() / 1000) } : {}),
      iss: claims.issuer,
      aud: config.audience,
      sub: claims.subject,
      jti: tokenId,
      iat,
      nbf: iat,
      exp,
    },
    key,
  );
  return { token, tokenId, expiresAt: new Date(exp * 1000) };
}

const AccessPayload = z.object({
  iss: z.string(),
  sub: z.string().min(1),
  tid: z.uuid(),
  client_id: z.uuid(),
  scope: z.string(),
  jti: z.string().min(1).max(100),
  exp: z.number().int(),
  iat: z.number().int(),
  role: z.enum(tenantRoles).optional(),
  sid: z.uuid().optional(),
  cnf: z.object({ jkt: z.string() }).optional(),
  aud: z.union([z.string(), z.array(z.string())]),
});

export interface VerifiedOAuthAccessToken {
  tenantId: string;
  issuer: string;
  subject: string;
  clientId: string;
  scope: string[];
  role?: (typeof tenantRoles)[number] | undefined;
  familyId?: string | undefined;
  jkt?: string | undefined;
  tokenId: string;
  issuedAt: Date;
  expiresAt: Date;
  audience: string[];
}

type ParsedAccessPayload = ReturnType<typeof AccessPayload.safeParse>;
const parsedPayloads = new WeakMap<JWTPayload, ParsedAccessPayload>();

/**
 * The claims read against `AccessPayload`, once per claims object: a token presented again comes with
 * the claims decoded at its first verification (`SignatureMemo.decoded`), and they never change.
 */
function accessPayloadOf(payload: JWTPayload): ParsedAccessPayload {
  let parsed = parsedPayloads.get(payload);
  if (!parsed) {
    parsed = AccessPayload.safeParse(payload);
    parsedPayloads.set(payload, parsed);
  }
  return parsed;
}

/**
 * The token, decoded, when it is an access token a tenant issuer signed for an OAuth client, not one
 * of Warden's own sign-in (both are `at+jwt` EdDSA tokens; the issuer and the `client_id` tell them
 * apart). Only a routing hint: hand the result to `verifyOAuthAccessToken`, which verifies it against
 * the tenant's keys without decoding it again.
 */
export function asOAuthAccessToken(
  token: string,
  platformIssuer: string,
  signatures?: Pick<SignatureMemo<CompactJwt>, 'decoded'>,
): CompactJwt | undefined {
  try {
    // A token whose signature was found good before was decoded then: the same bytes, the same claims.
    const jwt = signatures?.decoded(token) ?? parseCompactJwt(token);
    const { header } = jwt;
    if (
      header.typ !== OAUTH_ACCESS_TOKEN_TYPE ||
      header.alg !== ACCESS_ALG ||
      typeof header.kid !== 'string'
    ) {
      return undefined;
    }
    const payload = jwt.payload();
    return payload.iss !== platformIssuer && typeof payload.client_id === 'string' ? jwt : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies an OAuth access token against the keys of the tenant it is presented to: another tenant's
 * token does not verify (its kid is not this tenant's), nor does an expired, tampered or foreign one.
 */
export async function verifyOAuthAccessToken(
  keys: OAuthKeys,
  tenantId: string,
  token: string | CompactJwt,
  config: { audience: string },
  now: Date,
): Promise<VerifiedOAuthAccessToken | undefined> {
  try {
    const { payload } = await verifyEdDSAJwt(
      token,
      async (header) => {
        if (header.alg !== ACCESS_ALG || typeof header.kid !== 'string') {
          throw new errors.JOSEAlgNotAllowed('unexpected algorithm or no kid');
        }
        const found = await keys.verifier(tenantId, header.kid);
        if (!found || found.alg !== ACCESS_ALG) throw new errors.JWKSNoMatchingKey();
        return found.key;
      },
      {
        typ: OAUTH_ACCESS_TOKEN_TYPE,
        audience: config.audience,
        currentDate: now,
        signatures: keys.signatures,
        requiredClaims: ['iss', 'sub', 'jti', 'exp', 'iat', 'tid', 'client_id', 'scope'],
      },
    );
    const parsed = accessPayloadOf(payload);
    if (!parsed.success || parsed.data.tid !== tenantId) return undefined;
    const p = parsed.data;
    return {
      tenantId: p.tid,
      issuer: p.iss,
      subject: p.sub,
      clientId: p.client_id,
      scope: p.scope.split(' ').filter(Boolean),
      role: p.role,
      familyId: p.sid,
      jkt: p.cnf?.jkt,
      tokenId: p.jti,
      issuedAt: new Date(p.iat * 1000),
      expiresAt: new Date(p.exp * 1000),
      audience: Array.isArray(p.aud) ? p.aud : [p.aud],
    };
  } catch (error) {
    if (error instanceof errors.JOSEError) return undefined;
    throw error;
  }
}

/** OIDC Core §3.1.3.6: the left half of the hash of the access token (or code), base64url. */
function halfHash(value: string): string {
  return base64url(sha256Of(value).slice(0, 16));
}

/** The ID token (OIDC Core §2): for the client, signed with the algorithm the client registered. */
export async function issueIdToken(
  keys: OAuthKeys,
  input: {
    tenantId: string;
    issuer: string;
    clientId: string;
    alg: IdTokenAlg;
    subject: string;
    authTime: Date;
    nonce?: string | undefined;
    sessionId?: string | undefined;
    accessToken?: string | undefined;
    claims: JWTPayload;
    ttlSeconds: number;
  },
  now: Date,
): Promise<string> {
  // at_hash uses the hash of the signing algorithm: SHA-256 for RS256, ES256 and Ed25519.
  const { kid, key } = await keys.signer(input.tenantId, input.alg);
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({
    ...input.claims,
    auth_time: Math.floor(input.authTime.getTime() / 1000),
    azp: input.clientId,
    ...(input.nonce ? { nonce: input.nonce } : {}),
    ...(input.sessionId ? { sid: input.sessionId } : {}),
    ...(input.accessToken ? { at_hash: halfHash(input.accessToken) } : {}),
  })
    .setProtectedHeader({ alg: input.alg, kid, typ: 'JWT' })
    .setIssuer(input.issuer)
    .setAudience(input.clientId)
    .setSubject(input.subject)
    .setIssuedAt(iat)
    .setExpirationTime(iat + input.ttlSeconds)
    .sign(key);
}
