import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { setCookie } from 'hono/cookie';
import type { OAuthServer } from '../../oauth/index.ts';
import { checkSignIn, loginPage, OAuthError, param, startSignInSession } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { actionOf, interactionOf, proceed } from './authorization-flow.ts';
import { cookiePath, SESSION_COOKIE, secure, show, step } from './authorization-responses.ts';
import { oauthDoc } from './docs.ts';
import { oauthMetadata } from './support.ts';

export interface OAuthSignInRouteDeps {
  server: OAuthServer;
  /** The client address for the login throttle. */
  clientAddress: (c: Context<AppEnv>) => string | undefined;
}

/** The sign-in page's form: a wrong password shows the page again; signed in, the flow goes on. */
export function oauthSignInRoutes(deps: OAuthSignInRouteDeps) {
  const { server } = deps;
  const app = new OpenAPIHono<AppEnv>();
  oauthDoc(app, {
    method: 'post',
    path: '/oauth/authorize/login',
    summary: 'The sign-in page’s form (browser only)',
    fields: ['interaction', 'csrf', 'email', 'password'],
    html: true,
    responses: { 200: 'The page again (wrong password) or the consent page', 303: 'Back to the client' },
  });
  app.post(
    '/oauth/authorize/login',
    step(server, async (c, tenant) => {
      const { form, id, csrf, request, client } = await interactionOf(c, server, tenant);
      const email = (param(form, 'email', 254) ?? '').trim().toLowerCase();
      const password = param(form, 'password', 1024) ?? '';
      const again = (error: string, status = 200) =>
        show(
          c,
          loginPage({
            action: actionOf(c, server, tenant, 'login'),
            redirectUri: request.redirectUri,
            interaction: id,
            csrf,
            tenantName: tenant.slug,
            clientName: client.name,
            email,
            error,
          }),
          status,
        );
      const checked = await checkSignIn(
        server,
        { tenantId: tenant.id, email, address: deps.clientAddress(c) },
        password,
      );
      if (!checked.ok) {
        if (checked.retryAfterSeconds !== undefined) {
          c.header('Retry-After', String(checked.retryAfterSeconds));
        }
        return again(checked.message, checked.status);
      }
      if (!(await server.requests.finish(id))) {
        throw new OAuthError('invalid_request', 'this sign-in page was submitted already');
      }
      const cookie = await startSignInSession(
        server,
        tenant.id,
        checked.userId,
        oauthMetadata(c, tenant.id, checked.userId),
      );
      setCookie(c, SESSION_COOKIE, cookie, {
        path: cookiePath(c, server, tenant),
        httpOnly: true,
        sameSite: 'Lax',
        secure: secure(c),
        maxAge: server.config.WARDEN_OAUTH_SESSION_TTL_HOURS * 3600,
      });
      // The rest of this request sees the new session (the cookie reaches the browser with the answer).
      c.req.raw.headers.set('cookie', `${SESSION_COOKIE}=${cookie}`);
      return proceed(c, server, tenant, client, request, true);
    }),
  );

  return app;
}
