import type { Context } from 'hono';
import type { ResolvedTenant } from '../../identity/index.ts';
import type { OAuthServer } from '../../oauth/index.ts';
import {
  type AuthorizationTarget,
  errorPage,
  formPostPage,
  OAuthError,
  type Page,
  RedirectableError,
} from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { noStore } from './support.ts';

export const SESSION_COOKIE = 'warden_sso';
export const CSRF_COOKIE = 'warden_oauth_csrf';

/** Shows one of the authorization pages: never cached, never framed, its own CSP. */
export function show(c: Context<AppEnv>, pageOf: Page, status = 200) {
  noStore(c);
  c.header('Content-Security-Policy', pageOf.csp);
  c.header('X-Frame-Options', 'DENY');
  return c.html(pageOf.html, status as 200);
}

/** Sends the authorization response (code or error) to the verified redirect URI, in its response mode. */
export function respond(
  c: Context<AppEnv>,
  target: AuthorizationTarget,
  values: Record<string, string>,
  issuer: string,
) {
  const params: Record<string, string> = {
    ...values,
    ...(target.state !== null ? { state: target.state } : {}),
    iss: issuer,
  };
  if (target.responseMode === 'form_post') return show(c, formPostPage(target.redirectUri, params));
  const url = new URL(target.redirectUri);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  noStore(c);
  return c.redirect(url.toString(), c.req.method === 'GET' ? 302 : 303);
}

/** The path the tenant's cookies are scoped to: its issuer's. */
export const cookiePath = (c: Context<AppEnv>, server: OAuthServer, tenant: ResolvedTenant) =>
  new URL(server.issuerFor(tenant, c.req.url)).pathname.replace(/\/$/, '') || '/';

export const secure = (c: Context<AppEnv>) => new URL(c.req.url).protocol === 'https:';

/** Runs an authorization step: redirectable errors go to the client, the rest to an error page. */
export const step =
  (server: OAuthServer, handler: (c: Context<AppEnv>, tenant: ResolvedTenant) => Promise<Response>) =>
  async (c: Context<AppEnv>) => {
    const tenant = c.get('tenant');
    if (!tenant)
      return show(c, errorPage('invalid_request', 'name a tenant: each tenant is its own issuer'), 404);
    try {
      return await handler(c, tenant);
    } catch (error) {
      if (error instanceof RedirectableError) {
        return respond(
          c,
          error.target,
          { error: error.error.error, error_description: error.error.description },
          server.issuerFor(tenant, c.req.url),
        );
      }
      if (error instanceof OAuthError) return show(c, errorPage(error.error, error.description), 400);
      throw error;
    }
  };
