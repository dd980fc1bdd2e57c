import { Buffer } from 'node:buffer';
import { type KeyObject, sign, verify } from 'node:crypto';
import { errors, type JWTHeaderParameters, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { nodeKeyOf } from './node-keys.ts';
import type { SignatureMemo } from './signature-memo.ts';

/**
 * EdDSA (Ed25519) JWTs signed (on the calling thread) and verified (on the thread pool) with `node:crypto`, for the hot
 * paths: access tokens issued at sign-in and by the token endpoint, and verified on every API call and
 * introspection. jose 6 runs every signature through Web Crypto, measured here at ~300 µs of CPU per
 * signature and ~380 µs per verification, where `node:crypto` takes ~52 and ~163 µs for the same
 * Ed25519 operations. The tokens are byte for byte what jose makes (each direction is tested against
 * jose), and verification checks what `jwtVerify` checks with the options below, throwing jose's own
 * error classes, so callers tell the reasons apart as before. A runtime whose Web Crypto keys cannot be
 * turned into `node:crypto` keys (`KeyObject.from`) goes through jose itself.
 */

/** The verification options the access tokens use (a subset of jose's `JWTVerifyOptions`). */
export interface EdDSAVerifyOptions {
  typ: string;
  audience: string;
  issuer?: string | undefined;
  currentDate: Date;
  requiredClaims: readonly string[];
  /** Good signatures remembered between calls (tokens presented again and again: see `SignatureMemo`). */
  signatures?: SignatureMemo<CompactJwt> | undefined;
}

const ALG = 'EdDSA';
const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** 64 bytes of Ed25519 signature in unpadded base64url. */
const SIGNATURE_LENGTH = 86;

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A signed compact JWT: `{alg: EdDSA, ...header}` over `payload`, as jose's `SignJWT` makes it. */
export async function signEdDSAJwt(
  header: { kid: string; typ: string },
  payload: JWTPayload,
  key: CryptoKey,
): Promise<string> {
  const node = nodeKeyOf(key, 'Ed25519');
  if (!node) {
    return new SignJWT(payload).setProtectedHeader({ alg: ALG, ...header }).sign(key);
  }
  const input = `${encode({ alg: ALG, ...header })}.${encode(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), node).toString('base64url')}`;
}

function parseSegment(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  const invalid = () =>
    what === 'header'
      ? new errors.JWSInvalid('JWS Protected Header is invalid')
      : new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid();
  return value as Record<string, unknown>;
}

/**
 * The signature check on libuv's thread pool (node:crypto's callback form): at ~163 µs it is most of an
 * authenticated request's CPU, and on the event loop it made the loop the bottleneck. Alternated runs of
 * 16 concurrent introspections: 1,300 and 1,121 per s on the loop, 1,570 and 1,457 per s off it.
 */
function verifiedOffThread(input: string, key: KeyObject, signature: string): Promise<boolean> {
  const bytes = Buffer.from(signature, 'base64url');
  // Only the canonical spelling: the last of 86 characters carries 4 bits the decoder drops, so sixteen
  // spellings would otherwise pass for one signature (a token changed in its last character, still valid).
  if (bytes.toString('base64url') !== signature) return Promise.resolve(false);
  return new Promise((resolve, reject) =>
    verify(null, Buffer.from(input), key, bytes, (error, ok) => (error ? reject(error) : resolve(ok))),
  );
}

const normalizeTyp = (typ: string) => typ.toLowerCase().replace(/^application\//, '');

function numericDate(payload: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') {
    throw new errors.JWTClaimValidationFailed(`"${claim}" claim must be a number`, payload, claim, 'invalid');
  }
  return value;
}

/** The registered claims, as jose's `jwtVerify` checks them with these options (no clock tolerance). */
function checkClaims(header: JWTHeaderParameters, payload: JWTPayload, options: EdDSAVerifyOptions): void {
  const failed = (message: string, claim: string, reason = 'check_failed') =>
    new errors.JWTClaimValidationFailed(message, payload, claim, reason);
  if (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(options.typ)) {
    throw failed('unexpected "typ" JWT header value', 'typ');
  }
  const required = new Set([...options.requiredClaims, 'aud', ...(options.issuer ? ['iss'] : [])]);
  for (const claim of required) {
    if (!Object.hasOwn(payload, claim)) throw failed(`missing required "${claim}" claim`, claim, 'missing');
  }
  if (options.issuer !== undefined && payload.iss !== options.issuer)
    throw failed('unexpected "iss" claim value', 'iss');
  const audience = typeof payload.aud === 'string' ? [payload.aud] : payload.aud;
  if (!Array.isArray(audience) || !audience.includes(options.audience)) {
    throw failed('unexpected "aud" claim value', 'aud');
  }
  const now = Math.floor(options.currentDate.getTime() / 1000);
  numericDate(payload, 'iat');
  const nbf = numericDate(payload, 'nbf');
  if (nbf !== undefined && nbf > now) throw failed('"nbf" claim timestamp check failed', 'nbf');
  const exp = numericDate(payload, 'exp');
  if (exp !== undefined && exp <= now) {
    throw new errors.JWTExpired('"exp" claim timestamp check failed', payload, 'exp', 'check_failed');
  }
}

/** A compact JWS split and its header decoded, not yet verified. */
export interface CompactJwt {
  token: string;
  head: string;
  body: string;
  signature: string;
  header: JWTHeaderParameters;
  /** The claims, decoded on the first call and kept (throws jose's `JWTInvalid` for a bad segment). */
  payload(): JWTPayload;
}

/**
 * Splits a compact JWT (three base64url segments) and decodes its header (a JSON object), throwing
 * jose's errors as `jwtVerify` would; nothing is verified. A caller that looks at the claims to route
 * the token (which issuer, which kind) hands the result to `verifyEdDSAJwt`, so a token is decoded
 * once per request. The claims decode when first asked for: verification asks only after the
 * signature held, so a forged token with bad claims fails on its signature, as with jose.
 */
export function parseCompactJwt(token: string): CompactJwt {
  const parts = token.split('.');
  if (parts.length !== 3) throw new errors.JWSInvalid('Invalid Compact JWS');
  const [head, body, signature] = parts as [string, string, string];
  if (!SEGMENT.test(head) || !SEGMENT.test(body) || !SEGMENT.test(signature)) {
    throw new errors.JWSInvalid('Invalid Compact JWS');
  }
  const header = parseSegment(head, 'header') as JWTHeaderParameters;
  let payload: JWTPayload | undefined;
  return {
    token,
    head,
    body,
    signature,
    header,
    payload: () => {
      payload ??= parseSegment(body, 'payload') as JWTPayload;
      return payload;
    },
  };
}

/**
 * Verifies an EdDSA JWT (a token, or one `parseCompactJwt` decoded): the algorithm pinned (`alg: none`
 * and HMAC confusion fail), no `crit`, the key the header's kid names (`getKey`, which may throw jose's
 * errors), the signature over the exact bytes received, then `typ`, the required claims, `iss`, `aud`,
 * `nbf` and `exp`.
 */
export async function verifyEdDSAJwt(
  jwt: string | CompactJwt,
  getKey: (header: JWTHeaderParameters) => Promise<CryptoKey>,
  options: EdDSAVerifyOptions,
): Promise<{ payload: JWTPayload; protectedHeader: JWTHeaderParameters }> {
  const decoded = typeof jwt === 'string' ? parseCompactJwt(jwt) : jwt;
  const { token, head, body, signature, header, payload: claims } = decoded;
  if (header.alg !== ALG)
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  if (header.crit !== undefined || header.b64 !== undefined) {
    throw new errors.JWSInvalid('unsupported "crit" or "b64" JWS Header Parameter');
  }
  const key = await getKey(header);
  const node = nodeKeyOf(key, 'Ed25519');
  if (!node) {
    const verified = await jwtVerify(token, key, {
      algorithms: [ALG],
      typ: options.typ,
      audience: options.audience,
      ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
      currentDate: options.currentDate,
      requiredClaims: [...options.requiredClaims],
      clockTolerance: 0,
    });
    return { payload: verified.payload, protectedHeader: verified.protectedHeader };
  }
  if (!options.signatures?.holds(token, node)) {
    if (
      signature.length !== SIGNATURE_LENGTH ||
      !(await verifiedOffThread(`${head}.${body}`, node, signature))
    ) {
      throw new errors.JWSSignatureVerificationFailed();
    }
    options.signatures?.add(token, node, decoded);
  }
  const payload = claims();
  checkClaims(header, payload, options);
  return { payload, protectedHeader: header };
}
