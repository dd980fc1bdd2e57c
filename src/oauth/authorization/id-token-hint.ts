import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { OAuthServer } from '../server.ts';

/** The client an ID token hint names, if it verifies with this tenant's keys (expired is fine). */
export async function hintedClient(
  server: Pick<OAuthServer, 'keys'>,
  tenantId: string,
  hint: string | undefined,
) {
  if (!hint) return undefined;
  try {
    const header = decodeProtectedHeader(hint);
    const key = header.kid ? await server.keys.verifier(tenantId, header.kid) : undefined;
    if (!key) return undefined;
    const claims = decodeJwt(hint);
    await jwtVerify(hint, key.key, { currentDate: new Date(((claims.exp ?? 0) - 1) * 1000) });
    return typeof claims.aud === 'string'
      ? claims.aud
      : Array.isArray(claims.aud)
        ? claims.aud[0]
        : undefined;
  } catch {
    return undefined;
  }
}
