import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, getCookie } from 'hono/cookie';
import type { ResolvedTenant } from '../../identity/index.ts';
import type { OAuthServer } from '../../oauth/index.ts';
import {
  confirmsSignOut,
  endSignInSession,
  errorPage,
  param,
  signedOutPage,
  signOutConfirmationToken,
  signOutPage,
  verifiedIdTokenHint,
} from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { cookiePath, SESSION_COOKIE, show, step } from './authorization-responses.ts';
import { oauthDoc } from './docs.ts';
import { formParams, noStore, oauthMetadata } from './support.ts';

const refused = (c: Context<AppEnv>, description: string) =>
  show(c, errorPage('invalid_request', description), 400);

/**
 * RP-initiated logout (OIDC RP-Initiated Logout 1.0). With an `id_token_hint` this issuer signed for
 * the browser's user, the sign-in ends at once; without one (a link or an image on any site reaches this
 * endpoint too) the user is asked first, on a page whose form carries a CSRF token only this browser can
 * know. Back only to a post-logout URI registered for the client the request names.
 */
export function oauthEndSessionRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();
  const actionOf = (c: Context<AppEnv>, tenant: ResolvedTenant) =>
    `${new URL(server.issuerFor(tenant, c.req.url)).pathname.replace(/\/$/, '')}/oauth/end-session`;

  const endSession = step(server, async (c, tenant) => {
    const params = c.req.method === 'POST' ? formParams(c) : new URL(c.req.url).searchParams;
    const rawHint = param(params, 'id_token_hint', 8192);
    const hint = rawHint
      ? await verifiedIdTokenHint(server, tenant.id, server.issuerFor(tenant, c.req.url), rawHint)
      : undefined;
    if (rawHint && !hint) return refused(c, 'id_token_hint is not an ID token of this issuer');
    const named = param(params, 'client_id', 100);
    if (hint && named && named !== hint.clientId) {
      return refused(c, 'id_token_hint was issued to another client than client_id');
    }
    const clientId = named ?? hint?.clientId;
    const client = clientId ? await server.clients.get(tenant.id, clientId) : undefined;
    if (hint && !client) return refused(c, 'the client id_token_hint was issued to is gone');
    const back = param(params, 'post_logout_redirect_uri');
    // Only to a post-logout URI registered for the client the request names (never an open redirect).
    if (back && !client?.postLogoutRedirectUris.includes(back)) {
      return refused(c, 'post_logout_redirect_uri is not registered for this client');
    }
    const state = param(params, 'state', 1000);

    const cookie = getCookie(c, SESSION_COOKIE);
    const session = await server.browser.find(tenant.id, cookie);
    if (session && cookie) {
      if (c.req.method === 'POST' && params.has('confirm')) {
        if (!(await confirmsSignOut(cookie, param(params, 'csrf', 100) ?? ''))) {
          return refused(c, 'this sign-out page has expired or was opened elsewhere; nothing was changed');
        }
      } else if (hint?.subject !== session.userId) {
        const user = await server.users.current(tenant.id, session.userId);
        return show(
          c,
          signOutPage({
            action: actionOf(c, tenant),
            csrf: await signOutConfirmationToken(cookie),
            userEmail: user?.email,
            clientName: client?.name,
            clientId: client ? clientId : undefined,
            postLogoutRedirectUri: back,
            state,
          }),
        );
      }
      await endSignInSession(server, tenant.id, session, oauthMetadata(c, tenant.id, session.userId));
    }
    deleteCookie(c, SESSION_COOKIE, { path: cookiePath(c, server, tenant) });
    if (back) {
      const url = new URL(back);
      if (state) url.searchParams.set('state', state);
      noStore(c);
      return c.redirect(url.toString(), c.req.method === 'GET' ? 302 : 303);
    }
    return show(c, signedOutPage());
  });
  for (const method of ['get', 'post'] as const) {
    oauthDoc(app, {
      method,
      path: '/oauth/end-session',
      summary:
        'RP-initiated logout (OIDC): with a valid id_token_hint ends the sign-in session at once, otherwise asks the user first',
      fields: ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state', 'confirm', 'csrf'],
      html: true,
      responses: {
        200: 'Signed out, or the confirmation page',
        302: 'To the registered post_logout_redirect_uri',
        400: 'A hint that does not verify or names another client, or an unregistered post-logout URI',
      },
    });
  }
  app.get('/oauth/end-session', endSession);
  app.post('/oauth/end-session', endSession);
  return app;
}
