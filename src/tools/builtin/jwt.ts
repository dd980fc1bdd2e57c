import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  importSPKI,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { z } from 'zod';
import { fullyQualified, SINGLE_LABEL_REFUSED } from '../host-names.ts';
import { defineTool } from '../protocol.ts';

const Parameters = z.strictObject({
  token: z
    .string()
    .trim()
    .min(1)
    .max(16_384)
    .regex(/^[\w-]+\.[\w-]+\.[\w-]*$/, 'must be a compact JWS'),
  /** A PEM public key, a JWK (JSON) or an HMAC secret. */
  key: z.string().max(16_384).optional(),
  /** A JWKS URL: fetched once, from the checked address, like any other target. */
  jwksUrl: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .refine(fullyQualified, SINGLE_LABEL_REFUSED)
    .optional(),
  issuer: z.string().max(500).optional(),
  audience: z.string().max(500).optional(),
});
const Result = z.object({
  header: z.record(z.string(), z.unknown()),
  payload: z.record(z.string(), z.unknown()),
  verified: z.boolean().nullable(),
  error: z.string().nullable(),
  expired: z.boolean().nullable(),
});

async function keyFrom(text: string, alg: string) {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN PUBLIC KEY')) return importSPKI(trimmed, alg);
  if (trimmed.startsWith('{')) return importJWK(JSON.parse(trimmed), alg);
  return new TextEncoder().encode(trimmed);
}

/** Decodes a JWT and, given a key or a JWKS URL, verifies its signature and claims. */
export const jwtTool = defineTool({
  id: 'jwt',
  name: 'JWT decode and verify',
  category: 'crypto',
  description: 'Decodes a JWT; with a key (PEM, JWK or secret) or a JWKS URL also verifies it.',
  version: '1.0.0',
  parameters: Parameters,
  result: Result,
  intrusive: false,
  // The token is often a live bearer credential: kept out of events, reads and logs like the key.
  secretParameters: ['key', 'token'],
  target: (p) => p.jwksUrl ?? null,
  defaultTimeoutMs: 15_000,
  maxTimeoutMs: 60_000,
  outputCapBytes: 64 * 1024,
  async run({ parameters, output, address }) {
    const header = decodeProtectedHeader(parameters.token) as Record<string, unknown>;
    const payload = decodeJwt(parameters.token) as Record<string, unknown>;
    const exp = typeof payload.exp === 'number' ? payload.exp : undefined;
    const expired = exp === undefined ? null : exp * 1000 < Date.now();
    let verified: boolean | null = null;
    let error: string | null = null;
    if (parameters.key || parameters.jwksUrl) {
      try {
        const options = {
          ...(parameters.issuer ? { issuer: parameters.issuer } : {}),
          ...(parameters.audience ? { audience: parameters.audience } : {}),
        };
        if (parameters.jwksUrl) {
          const url = new URL(parameters.jwksUrl);
          // Pinned to the checked address: the host name is not resolved a second time.
          const pinned = new URL(url);
          if (address) pinned.hostname = address.includes(':') ? `[${address}]` : address;
          const jwks: JWTVerifyGetKey = createRemoteJWKSet(pinned, { headers: { host: url.host } });
          await jwtVerify(parameters.token, jwks, options);
        } else {
          await jwtVerify(parameters.token, await keyFrom(parameters.key!, String(header.alg)), options);
        }
        verified = true;
      } catch (caught) {
        verified = false;
        error = (caught as { code?: string }).code ?? String(caught);
      }
    }
    output.write('stdout', `${JSON.stringify(header)}\n${JSON.stringify(payload, null, 2)}\n`);
    output.write(
      'stdout',
      verified === null ? 'not verified (no key)\n' : verified ? 'signature valid\n' : `invalid: ${error}\n`,
    );
    return { exitCode: 0, result: { header, payload, verified, error, expired } };
  },
});
