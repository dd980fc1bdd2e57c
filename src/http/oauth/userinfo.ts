import { OpenAPIHono } from '@hono/zod-openapi';
import type { OAuthServer } from '../../oauth/index.ts';
import { liveAccessToken, OAuthError, userClaims } from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { oauthDoc } from './docs.ts';
import { dpopOf, issuerTenantOf, noStore, oauthHandler } from './support.ts';

/** UserInfo (OIDC Core §5.3): the claims of an access token's scopes, for the user as they are now. */
export function oauthUserinfoRoutes(server: OAuthServer) {
  const app = new OpenAPIHono<AppEnv>();
  const userinfo = oauthHandler(async (c) => {
    const tenant = issuerTenantOf(c);
    noStore(c);
    const header = c.req.header('authorization')?.trim() ?? '';
    const match = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
    const challenge = (error: string) =>
      `${match?.[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'} error="${error}"`;
    if (!match?.[2]) throw new OAuthError('invalid_token', 'send an access token', 401, 'Bearer');
    const token = match[2];
    const access = await liveAccessToken(server, tenant.id, token);
    if (!access)
      throw new OAuthError('invalid_token', 'the access token is not valid', 401, challenge('invalid_token'));
    if (access.jkt) {
      if (match[1]?.toLowerCase() !== 'dpop') {
        throw new OAuthError(
          'invalid_token',
          'this token is DPoP-bound: use the DPoP scheme',
          401,
          challenge('invalid_token'),
        );
      }
      const proof = await dpopOf(c, server, token);
      if (proof?.jkt !== access.jkt) {
        throw new OAuthError(
          'invalid_token',
          'the DPoP proof is not of the bound key',
          401,
          challenge('invalid_token'),
        );
      }
    }
    if (!access.scope.includes('openid') || access.subject === access.clientId) {
      throw new OAuthError(
        'insufficient_scope',
        'userinfo needs a user token with the openid scope',
        403,
        challenge('insufficient_scope'),
      );
    }
    const user = await server.users.current(tenant.id, access.subject);
    if (!user)
      throw new OAuthError('invalid_token', 'the user is no longer active', 401, challenge('invalid_token'));
    return c.json({ sub: access.subject, ...userClaims(access.scope, user) });
  });
  for (const method of ['get', 'post'] as const) {
    oauthDoc(app, {
      method,
      path: '/oauth/userinfo',
      summary: 'UserInfo (OIDC Core §5.3): the claims of the token’s scopes',
      fields: [],
      bearer: true,
      responses: {
        200: '{sub, email, email_verified, name, updated_at}',
        401: 'invalid_token',
        403: 'insufficient_scope',
      },
    });
  }
  app.get('/oauth/userinfo', userinfo);
  app.post('/oauth/userinfo', userinfo);
  return app;
}
