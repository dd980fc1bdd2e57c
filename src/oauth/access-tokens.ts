import { ownerOnlyScopes } from '../commands/oauth/index.ts';
import { accessTokenConfig } from './grants/grant.ts';
import type { OAuthServer } from './server.ts';
import { asOAuthAccessToken, type VerifiedOAuthAccessToken, verifyOAuthAccessToken } from './tokens.ts';

/**
 * An access token of this tenant that is still good: verified, not expired, not revoked, its client
 * still there; its scope narrowed to what the client may still ask for (and, acting for the client
 * itself, never an owner-only scope), as the API's authentication narrows it.
 */
export async function liveAccessToken(
  server: OAuthServer,
  tenantId: string,
  token: string,
): Promise<VerifiedOAuthAccessToken | undefined> {
  const jwt = asOAuthAccessToken(token, server.config.WARDEN_TOKEN_ISSUER, server.keys.signatures);
  if (!jwt) return undefined;
  const verified = await verifyOAuthAccessToken(
    server.keys,
    tenantId,
    jwt,
    accessTokenConfig(server),
    server.clock(),
  );
  if (!verified) return undefined;
  if (await server.tokens.isRevoked(verified.tokenId, verified.familyId)) return undefined;
  const client = await server.clients.get(tenantId, verified.clientId);
  if (!client) return undefined;
  const forClient = verified.subject === verified.clientId;
  const scope = verified.scope.filter(
    (s) => client.scopes.includes(s) && !(forClient && ownerOnlyScopes.includes(s)),
  );
  return { ...verified, scope };
}
