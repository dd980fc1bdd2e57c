import { accessTokenConfig } from './grants/grant.ts';
import type { OAuthServer } from './server.ts';
import {
  looksLikeOAuthAccessToken,
  type VerifiedOAuthAccessToken,
  verifyOAuthAccessToken,
} from './tokens.ts';

/** An access token of this tenant that is still good: verified, not expired, not revoked, its client still there. */
export async function liveAccessToken(
  server: OAuthServer,
  tenantId: string,
  token: string,
): Promise<VerifiedOAuthAccessToken | undefined> {
  if (!looksLikeOAuthAccessToken(token, server.config.WARDEN_TOKEN_ISSUER)) return undefined;
  const verified = await verifyOAuthAccessToken(
    server.keys,
    tenantId,
    token,
    accessTokenConfig(server),
    server.clock(),
  );
  if (!verified) return undefined;
  if (await server.tokens.isRevoked(verified.tokenId, verified.familyId)) return undefined;
  if (!(await server.clients.get(tenantId, verified.clientId))) return undefined;
  return verified;
}
