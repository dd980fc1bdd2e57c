import { OpenAPIHono } from '@hono/zod-openapi';
import type { OAuthServer } from '../../oauth/index.ts';
import { accessTokenStreamId, liveAccessToken, OAuthError, param, required } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { CLIENT_AUTH_FIELDS, oauthDoc } from './docs.ts';
import {
  authenticatedClient,
  formParams,
  issuerTenantOf,
  noStore,
  oauthHandler,
  oauthMetadata,
} from './support.ts';

/**
 * Introspection (RFC 7662) and revocation (RFC 7009), for the clients the tokens were issued to; a
 * client registered with `introspection: "tenant"` (a resource server) introspects every token of its
 * tenant. Any other token is answered as an unknown one, so no application learns of another's users.
 */
export function oauthTokenStatusRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();

  oauthDoc(app, {
    method: 'post',
    path: '/oauth/introspect',
    summary:
      'Token introspection (RFC 7662), for authenticated confidential clients: a client sees its own tokens, one registered with `introspection: "tenant"` every token of the tenant; any other token is `{"active": false}`, as an unknown one',
    fields: ['token', 'token_type_hint', ...CLIENT_AUTH_FIELDS],
    responses: {
      200: '{active, scope, client_id, sub, exp, iat, iss, aud, jti, token_type, cnf}',
      401: 'invalid_client',
    },
  });
  app.post(
    '/oauth/introspect',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      const form = formParams(c);
      noStore(c);
      const caller = await authenticatedClient(c, server, form, '/oauth/introspect');
      if (caller.type === 'public') {
        throw new OAuthError('invalid_client', 'introspection is for authenticated clients only', 401);
      }
      const token = required(form, 'token', 8192);
      const hint = param(form, 'token_type_hint');
      // RFC 7662 §4: whether this caller may know of the token is decided from the client already
      // loaded; a token it may not see goes on as an unknown one would, to the same answer.
      const mayKnow = (clientId: string | null) =>
        caller.introspection === 'tenant' || clientId === caller.clientId;
      const access = hint === 'refresh_token' ? undefined : await liveAccessToken(server, tenant.id, token);
      if (access && mayKnow(access.clientId)) {
        return c.json({
          active: true,
          scope: access.scope.join(' '),
          client_id: access.clientId,
          sub: access.subject,
          exp: Math.floor(access.expiresAt.getTime() / 1000),
          iat: Math.floor(access.issuedAt.getTime() / 1000),
          iss: access.issuer,
          aud: access.audience,
          jti: access.tokenId,
          token_type: access.jkt ? 'DPoP' : 'Bearer',
          ...(access.jkt ? { cnf: { jkt: access.jkt } } : {}),
        });
      }
      const refresh = await server.tokens.inspect(token);
      if (
        refresh?.active &&
        refresh.tenantId === tenant.id &&
        refresh.clientId &&
        mayKnow(refresh.clientId)
      ) {
        return c.json({
          active: true,
          scope: refresh.scope.join(' '),
          client_id: refresh.clientId,
          sub: refresh.userId,
          exp: Math.floor(refresh.expiresAt.getTime() / 1000),
          iat: Math.floor(refresh.issuedAt.getTime() / 1000),
          ...(refresh.issuer ? { iss: refresh.issuer } : {}),
          token_type: 'refresh_token',
        });
      }
      return c.json({ active: false });
    }),
  );

  oauthDoc(app, {
    method: 'post',
    path: '/oauth/revoke',
    summary:
      'Token revocation (RFC 7009): a refresh token ends its whole grant; an access token is refused until it expires',
    fields: ['token', 'token_type_hint', ...CLIENT_AUTH_FIELDS],
    responses: { 200: 'Revoked (or unknown: the same answer)', 401: 'invalid_client' },
  });
  app.post(
    '/oauth/revoke',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      const form = formParams(c);
      noStore(c);
      const caller = await authenticatedClient(c, server, form, '/oauth/revoke');
      const token = required(form, 'token', 8192);
      const requestId = c.get('requestId');
      const refresh = await server.tokens.inspect(token);
      // Only the client a token was issued to may revoke it; anything else is answered alike (§2.2).
      if (refresh && refresh.tenantId === tenant.id && refresh.clientId === caller.clientId) {
        await server.tokens.revoke(refresh.familyId, 'revoked_by_client', requestId);
        return c.body(null, 200);
      }
      const access = await liveAccessToken(server, tenant.id, token);
      if (access && access.clientId === caller.clientId) {
        await server.tokens.revokeAccessToken(access.tokenId, access.expiresAt);
        await server.record(
          accessTokenStreamId(access.tokenId),
          'OAuthAccessTokenRevoked',
          {
            tenantId: tenant.id,
            clientId: caller.clientId,
            tokenId: access.tokenId,
            at: server.clock().toISOString(),
          },
          oauthMetadata(c, tenant.id, caller.clientId),
        );
      }
      return c.body(null, 200);
    }),
  );

  return app;
}
