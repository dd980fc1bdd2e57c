import { OpenAPIHono } from '@hono/zod-openapi';
import { getCookie } from 'hono/cookie';
import type { OAuthServer } from '../../oauth/index.ts';
import { grantConsent, OAuthError, param, RedirectableError, signedIn, targetOf } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { interactionOf, sendCode } from './authorization-flow.ts';
import { SESSION_COOKIE, step } from './authorization-responses.ts';
import { oauthDoc } from './docs.ts';
import { oauthMetadata } from './support.ts';

/** The consent page's form: allowed, the code goes to the client; denied, access_denied does. */
export function oauthConsentRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();
  oauthDoc(app, {
    method: 'post',
    path: '/oauth/authorize/consent',
    summary: 'The consent page’s form (browser only): allow or deny',
    fields: ['interaction', 'csrf', 'decision'],
    html: true,
    responses: { 303: 'Back to the client with a code, or access_denied' },
  });
  app.post(
    '/oauth/authorize/consent',
    step(server, async (c, tenant) => {
      const { form, id, request, client } = await interactionOf(c, server, tenant);
      const target = targetOf(request);
      const { session } = (await signedIn(server, tenant.id, getCookie(c, SESSION_COOKIE))) ?? {};
      if (!session) throw new OAuthError('login_required', 'your sign-in has ended; start again');
      if (!(await server.requests.finish(id))) {
        throw new OAuthError('invalid_request', 'this consent page was submitted already');
      }
      const decision = param(form, 'decision', 10);
      if (decision !== 'allow') {
        throw new RedirectableError(new OAuthError('access_denied', 'the user denied the request'), target);
      }
      await grantConsent(
        server,
        {
          tenantId: tenant.id,
          userId: session.userId,
          clientId: client.clientId,
          scopes: request.scope,
          redirectUrisAddedAt: client.redirectUrisAddedAt,
        },
        oauthMetadata(c, tenant.id, session.userId),
      );
      return sendCode(c, server, tenant, request, session);
    }),
  );

  return app;
}
