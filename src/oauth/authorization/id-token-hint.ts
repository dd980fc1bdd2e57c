import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { sha256 } from '../../identity/index.ts';
import type { OAuthServer } from '../server.ts';

/** What an ID token hint says, once it verified: the client it was issued to and the user it names. */
export interface IdTokenHint {
  clientId: string;
  subject: string;
}

/**
 * An ID token hint (OIDC RP-Initiated Logout 1.0 §2) this tenant's issuer signed, expired or not;
 * undefined when it does not verify, names another issuer, or lacks its audience or subject.
 */
export async function verifiedIdTokenHint(
  server: Pick<OAuthServer, 'keys'>,
  tenantId: string,
  issuer: string,
  hint: string,
): Promise<IdTokenHint | undefined> {
  try {
    const header = decodeProtectedHeader(hint);
    const key = header.kid ? await server.keys.verifier(tenantId, header.kid) : undefined;
    if (!key) return undefined;
    const claims = decodeJwt(hint);
    // An RP may hold on to an ID token past its expiry: the hint names the session, it grants nothing.
    const { payload } = await jwtVerify(hint, key.key, {
      issuer,
      currentDate: new Date(((claims.exp ?? 0) - 1) * 1000),
    });
    const audience = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    const clientId = typeof payload.azp === 'string' ? payload.azp : audience[0];
    if (typeof clientId !== 'string' || !audience.includes(clientId) || !payload.sub) return undefined;
    return { clientId, subject: payload.sub };
  } catch {
    return undefined;
  }
}

/**
 * The sign-out confirmation form's CSRF token: derived from the browser's sign-in cookie, which only
 * that browser holds (httpOnly), so another site can neither read nor forge it; nothing is stored.
 */
export const signOutConfirmationToken = (sessionCookie: string) =>
  sha256(`warden end-session confirmation\u0000${sessionCookie}`);

/** True when `token` is this browser's confirmation token (compared in constant time). */
export async function confirmsSignOut(sessionCookie: string, token: string): Promise<boolean> {
  const expected = await signOutConfirmationToken(sessionCookie);
  if (token.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ token.charCodeAt(i);
  return diff === 0;
}
