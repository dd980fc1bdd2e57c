import { calculateJwkThumbprint, decodeProtectedHeader, errors, importJWK, type JWK, jwtVerify } from 'jose';
import { sha256Of } from '../crypto/digest.ts';
import { base64url } from '../identity/index.ts';
import { OAuthError } from './errors.ts';
import type { ReplayGuard } from './replay-guard.ts';

/** Asymmetric algorithms a DPoP proof may use (RFC 9449 §4.2: never `none` or a MAC). */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const;
/** How far a proof's `iat` may be from our clock. */
const PROOF_WINDOW_SECONDS = 60;

/** `htu` is compared without query and fragment (RFC 9449 §4.3). */
export function htuOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** base64url(SHA-256(access token)): the `ath` claim of a proof sent with an access token. */
export const accessTokenHash = (token: string) => base64url(sha256Of(token));

/**
 * Verifies a DPoP proof (RFC 9449 §4.3): one proof header, `typ: dpop+jwt`, an asymmetric `alg`, a
 * public `jwk` that verifies the signature, `htm`/`htu` of this request, a fresh `iat`, a `jti` seen
 * once (shared replay guard), and `ath` when an access token comes with it. Returns the key's RFC 7638
 * thumbprint, which tokens are then bound to (`cnf.jkt`).
 */
export async function verifyDpopProof(
  proof: string,
  request: { method: string; url: string; accessToken?: string | undefined },
  deps: { now: Date; replay: ReplayGuard },
): Promise<{ jkt: string }> {
  const bad = (why: string) => new OAuthError('invalid_dpop_proof', why, 400);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw bad('the DPoP header is not a JWT');
  }
  if (header.typ !== 'dpop+jwt') throw bad('the DPoP proof must have typ dpop+jwt');
  if (!header.alg || !(DPOP_ALGORITHMS as readonly string[]).includes(header.alg)) {
    throw bad(`the DPoP proof must be signed with one of ${DPOP_ALGORITHMS.join(', ')}`);
  }
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || typeof jwk !== 'object' || 'd' in jwk || 'k' in jwk) {
    throw bad('the DPoP proof must carry the public key (jwk) that signed it');
  }
  let payload: Record<string, unknown>;
  try {
    const key = await importJWK(jwk, header.alg);
    ({ payload } = await jwtVerify(proof, key, {
      typ: 'dpop+jwt',
      algorithms: [...DPOP_ALGORITHMS],
      currentDate: deps.now,
      maxTokenAge: `${PROOF_WINDOW_SECONDS}s`,
      clockTolerance: PROOF_WINDOW_SECONDS,
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    }));
  } catch (error) {
    if (error instanceof errors.JOSEError || error instanceof TypeError) {
      throw bad(`the DPoP proof does not verify: ${error.message}`);
    }
    throw error;
  }
  if (payload.htm !== request.method) throw bad('the DPoP proof is for another HTTP method');
  let htu: string;
  try {
    htu = htuOf(String(payload.htu));
  } catch {
    throw bad('the DPoP proof has a malformed htu');
  }
  if (htu !== htuOf(request.url)) throw bad('the DPoP proof is for another URL');
  if (request.accessToken !== undefined && payload.ath !== accessTokenHash(request.accessToken)) {
    throw bad('the DPoP proof does not name this access token (ath)');
  }
  const jkt = await calculateJwkThumbprint(jwk);
  const jti = String(payload.jti);
  if (jti.length > 200) throw bad('the DPoP proof jti is too long');
  // Kept for as long as the proof itself verifies: up to the window (and the tolerance) past its `iat`,
  // which may lie ahead of our clock. Counted from now, a proof dated ahead outlived its jti.
  const iat = Number(payload.iat);
  const expires = new Date((iat + 2 * PROOF_WINDOW_SECONDS + 2) * 1000);
  if (!(await deps.replay.firstUse(`dpop:${jkt}:${jti}`, expires)))
    throw bad('the DPoP proof was used before');
  return { jkt };
}
