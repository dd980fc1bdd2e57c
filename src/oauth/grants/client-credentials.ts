import { accessTokenStreamId } from '../events.ts';
import { param } from '../params.ts';
import { resolveScope } from '../scopes.ts';
import { issueOAuthAccessToken } from '../tokens.ts';
import { accessTokenConfig, type Grant, grantMetadata, proofFor } from './grant.ts';

/** Client credentials (RFC 6749 §4.4): a token for the client itself, never with OpenID scopes. */
export const clientCredentialsGrant: Grant = async (request, server) => {
  const { client, tenantId, now } = request;
  const scope = resolveScope(param(request.form, 'scope'), client, { user: false, defaultToClient: true });
  const proof = await proofFor(request);
  const config = accessTokenConfig(server);
  const access = await issueOAuthAccessToken(
    server.keys,
    config,
    {
      tenantId,
      issuer: request.issuer,
      subject: client.clientId,
      clientId: client.clientId,
      scope,
      jkt: proof?.jkt,
    },
    now,
  );
  await server.record(
    accessTokenStreamId(access.tokenId),
    'OAuthAccessTokenIssued',
    {
      tenantId,
      clientId: client.clientId,
      tokenId: access.tokenId,
      grantType: 'client_credentials',
      scope,
      expiresAt: access.expiresAt.toISOString(),
      at: now.toISOString(),
    },
    grantMetadata(request, client.clientId),
  );
  return {
    access_token: access.token,
    token_type: proof ? 'DPoP' : 'Bearer',
    expires_in: config.ttlSeconds,
    scope: scope.join(' '),
  };
};
