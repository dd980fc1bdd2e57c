import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { OAuthServer } from '../../oauth/index.ts';
import { readAuthorizationRequest } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { proceed } from './authorization-flow.ts';
import { step } from './authorization-responses.ts';
import { oauthDoc } from './docs.ts';
import { formParams } from './support.ts';

/**
 * The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1, RFC 9126 PAR, RFC 9207 `iss`). A client
 * or redirect URI that cannot be verified is never redirected to: the browser gets an error page.
 * Every other error goes back to the client's redirect URI. Its pages post to sign-in.ts and consent.ts.
 */
export function oauthAuthorizeRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();
  const authorize = step(server, async (c: Context<AppEnv>, tenant) => {
    const params = c.req.method === 'POST' ? formParams(c) : new URL(c.req.url).searchParams;
    const { client, request } = await readAuthorizationRequest(server, tenant.id, params);
    return proceed(c, server, tenant, client, request, false);
  });
  for (const method of ['get', 'post'] as const) {
    oauthDoc(app, {
      method,
      path: '/oauth/authorize',
      summary:
        'Authorization endpoint: code flow with PKCE S256, state, nonce, prompt, max_age, PAR request_uri; answers with iss (RFC 9207)',
      fields: [
        'response_type',
        'client_id',
        'redirect_uri',
        'scope',
        'state',
        'nonce',
        'code_challenge',
        'code_challenge_method',
        'response_mode',
        'prompt',
        'max_age',
        'login_hint',
        'request_uri',
        'dpop_jkt',
      ],
      html: true,
      responses: {
        200: 'The sign-in or consent page',
        302: 'Back to the client with code or error, state and iss',
        400: 'Error page (client or redirect URI not verified)',
      },
    });
  }
  app.get('/oauth/authorize', authorize);
  app.post('/oauth/authorize', authorize);
  return app;
}
