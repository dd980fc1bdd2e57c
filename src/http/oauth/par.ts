import { OpenAPIHono } from '@hono/zod-openapi';
import type { OAuthServer } from '../../oauth/index.ts';
import { invalidRequest, param, RedirectableError, validateAuthorizationRequest } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { CLIENT_AUTH_FIELDS, oauthDoc } from './docs.ts';
import {
  authenticatedClient,
  formParams,
  issuerTenantOf,
  noStore,
  oauthErrorResponse,
  oauthHandler,
} from './support.ts';

/** Pushed authorization requests (RFC 9126): validated now, redeemed by `request_uri` at the authorization endpoint. */
export function oauthParRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();
  oauthDoc(app, {
    method: 'post',
    path: '/oauth/par',
    summary: 'Pushed authorization request (RFC 9126): authenticated client in, request_uri out',
    fields: [
      ...CLIENT_AUTH_FIELDS,
      'response_type',
      'redirect_uri',
      'scope',
      'state',
      'nonce',
      'code_challenge',
      'code_challenge_method',
      'prompt',
      'max_age',
      'dpop_jkt',
    ],
    responses: { 201: '{request_uri, expires_in}', 400: 'RFC 6749 error', 401: 'invalid_client' },
  });
  app.post(
    '/oauth/par',
    oauthHandler(async (c) => {
      const tenant = issuerTenantOf(c);
      const form = formParams(c);
      const client = await authenticatedClient(c, server, form, '/oauth/par');
      if (form.has('request_uri')) throw invalidRequest('request_uri cannot be pushed');
      const redirectUri = param(form, 'redirect_uri');
      if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
        throw invalidRequest('redirect_uri is missing or not registered for this client');
      }
      const target = {
        redirectUri,
        state: param(form, 'state', 1000) ?? null,
        responseMode: 'query' as const,
      };
      try {
        validateAuthorizationRequest(form, client, target);
      } catch (error) {
        if (error instanceof RedirectableError) return oauthErrorResponse(c, error.error);
        throw error;
      }
      const AUTH_PARAMS = new Set(['client_secret', 'client_assertion', 'client_assertion_type']);
      const kept = Object.fromEntries([...form.entries()].filter(([k]) => !AUTH_PARAMS.has(k)));
      const ttl = server.config.WARDEN_OAUTH_PAR_TTL_SECONDS;
      const requestUri = await server.requests.push(
        tenant.id,
        client.clientId,
        { ...kept, client_id: client.clientId },
        ttl,
      );
      noStore(c);
      return c.json({ request_uri: requestUri, expires_in: ttl }, 201);
    }),
  );

  return app;
}
