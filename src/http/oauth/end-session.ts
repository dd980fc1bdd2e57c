import { OpenAPIHono } from '@hono/zod-openapi';
import { deleteCookie, getCookie } from 'hono/cookie';
import type { OAuthServer } from '../../oauth/index.ts';
import { endSignInSession, errorPage, hintedClient, param, signedOutPage } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { cookiePath, SESSION_COOKIE, show, step } from './authorization-responses.ts';
import { oauthDoc } from './docs.ts';
import { formParams, noStore, oauthMetadata } from './support.ts';

/** RP-initiated logout (OIDC): ends the browser's sign-in session, back only to a registered URI. */
export function oauthEndSessionRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();
  const endSession = step(server, async (c, tenant) => {
    const params = c.req.method === 'POST' ? formParams(c) : new URL(c.req.url).searchParams;
    const hinted = await hintedClient(server, tenant.id, param(params, 'id_token_hint', 8192));
    const clientId = param(params, 'client_id', 100) ?? hinted;
    const session = await server.browser.find(tenant.id, getCookie(c, SESSION_COOKIE));
    if (session) {
      await endSignInSession(server, tenant.id, session, oauthMetadata(c, tenant.id, session.userId));
    }
    deleteCookie(c, SESSION_COOKIE, { path: cookiePath(c, server, tenant) });
    const back = param(params, 'post_logout_redirect_uri');
    const client = clientId ? await server.clients.get(tenant.id, clientId) : undefined;
    // Only to a post-logout URI registered for the client the request names (never an open redirect).
    if (back && client?.postLogoutRedirectUris.includes(back)) {
      const url = new URL(back);
      const state = param(params, 'state', 1000);
      if (state) url.searchParams.set('state', state);
      noStore(c);
      return c.redirect(url.toString(), c.req.method === 'GET' ? 302 : 303);
    }
    if (back)
      return show(
        c,
        errorPage('invalid_request', 'post_logout_redirect_uri is not registered for this client'),
        400,
      );
    return show(c, signedOutPage());
  });
  for (const method of ['get', 'post'] as const) {
    oauthDoc(app, {
      method,
      path: '/oauth/end-session',
      summary: 'RP-initiated logout (OIDC): ends the sign-in session; back to a registered post-logout URI',
      fields: ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state'],
      html: true,
      responses: { 200: 'Signed out', 302: 'To the registered post_logout_redirect_uri' },
    });
  }
  app.get('/oauth/end-session', endSession);
  app.post('/oauth/end-session', endSession);
  return app;
}
