import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { grantFor } from '../../oauth/grants/index.ts';
import type { OAuthServer } from '../../oauth/index.ts';
import { OAuthError, required, unauthorizedClient } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { requestOrigin } from '../kit/index.ts';
import { CLIENT_AUTH_FIELDS, oauthDoc } from './docs.ts';
import {
  authenticatedClient,
  claimedClientId,
  dpopOf,
  formParams,
  issuerTenantOf,
  noStore,
  oauthHandler,
} from './support.ts';

export interface OAuthTokenRouteDeps {
  server: OAuthServer;
  /** The client address for the per-address token limit. */
  clientAddress: (c: Context<AppEnv>) => string | undefined;
}

/**
 * The token endpoint (authorization code with PKCE, refresh with rotation, client credentials, the
 * opt-in password grant): it reads the form, admits and authenticates the client, and hands the
 * request to the grant its `grant_type` names (src/oauth/grants). Answers are in the protocol's format.
 */
export function oauthTokenRoutes(deps: OAuthTokenRouteDeps) {
  const { server } = deps;
  const app = new OpenAPIHono<AppEnv>();

  oauthDoc(app, {
    method: 'post',
    path: '/oauth/token',
    summary:
      'Token endpoint: authorization_code (PKCE S256), refresh_token, client_credentials, password (opt-in)',
    fields: [
      'grant_type',
      'code',
      'redirect_uri',
      'code_verifier',
      'refresh_token',
      'scope',
      'username',
      'password',
      ...CLIENT_AUTH_FIELDS,
    ],
    responses: {
      200: 'Tokens: access_token, token_type (Bearer or DPoP), expires_in, scope, refresh_token, id_token',
      400: 'RFC 6749 §5.2 error',
      401: 'invalid_client',
      429: 'Too many token requests for this client or address',
    },
  });
  app.post(
    '/oauth/token',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      const form = formParams(c);
      noStore(c);
      if (!(await server.admitToken(tenant.id, claimedClientId(c, form), deps.clientAddress(c)))) {
        throw new OAuthError(
          'temporarily_unavailable',
          'too many token requests; retry later',
          429,
          undefined,
          60,
        );
      }
      const client = await authenticatedClient(c, server, form, '/oauth/token');
      const grantType = required(form, 'grant_type', 100);
      const grant = grantFor(grantType);
      if (!grant) throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
      if (!server.allows(client, grantType as Parameters<OAuthServer['allows']>[1])) {
        throw unauthorizedClient(`this client may not use the ${grantType} grant`);
      }
      const response = await grant(
        {
          form,
          client,
          tenantId: tenant.id,
          issuer: server.issuerFor(tenant, c.req.url),
          requestId: c.get('requestId'),
          now: server.clock(),
          dpop: () => dpopOf(c, server),
          clientAddress: deps.clientAddress(c),
          userAgent: requestOrigin(c).userAgent,
        },
        server,
      );
      return c.json(response);
    }),
  );
  return app;
}
