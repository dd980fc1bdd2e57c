import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { ClientState } from '../../commands/oauth/index.ts';
import type { ResolvedTenant } from '../../identity/index.ts';
import type { AuthorizationRequest, OAuthServer } from '../../oauth/index.ts';
import {
  consentPage,
  issueAuthorizationCode,
  loginPage,
  needsConsent,
  OAuthError,
  param,
  RedirectableError,
  signedIn,
  targetOf,
} from '../../oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { CSRF_COOKIE, cookiePath, respond, SESSION_COOKIE, secure, show } from './authorization-responses.ts';
import { formParams, oauthMetadata } from './support.ts';

const INTERACTION_TTL_SECONDS = 600;

/** Where the sign-in and consent pages post their forms. */
export const actionOf = (
  c: Context<AppEnv>,
  server: OAuthServer,
  tenant: ResolvedTenant,
  step: 'login' | 'consent',
) => `${new URL(server.issuerFor(tenant, c.req.url)).pathname.replace(/\/$/, '')}/oauth/authorize/${step}`;

/** Signed in, consented: the code goes to the client. */
export async function sendCode(
  c: Context<AppEnv>,
  server: OAuthServer,
  tenant: ResolvedTenant,
  request: AuthorizationRequest,
  session: { sid: string; userId: string; authTime: Date },
) {
  const code = await issueAuthorizationCode(server, {
    tenantId: tenant.id,
    request,
    session,
    metadata: oauthMetadata(c, tenant.id, session.userId),
  });
  return respond(c, targetOf(request), { code }, server.issuerFor(tenant, c.req.url));
}

/** Parks the request while a page is shown; the browser gets the interaction's CSRF cookie. */
async function startInteraction(
  c: Context<AppEnv>,
  server: OAuthServer,
  tenant: ResolvedTenant,
  request: AuthorizationRequest,
) {
  const interaction = await server.requests.startInteraction(tenant.id, request, INTERACTION_TTL_SECONDS);
  setCookie(c, CSRF_COOKIE, interaction.csrf, {
    path: cookiePath(c, server, tenant),
    httpOnly: true,
    sameSite: 'Lax',
    secure: secure(c),
    maxAge: INTERACTION_TTL_SECONDS,
  });
  return interaction;
}

/**
 * What the request needs next: a sign-in, a consent, or nothing (the code is issued). `prompt=none`
 * turns each page it would show into an error for the client.
 */
export async function proceed(
  c: Context<AppEnv>,
  server: OAuthServer,
  tenant: ResolvedTenant,
  client: ClientState,
  request: AuthorizationRequest,
  justSignedIn: boolean,
) {
  const target = targetOf(request);
  const { session, user } = (await signedIn(server, tenant.id, getCookie(c, SESSION_COOKIE))) ?? {};
  const now = server.clock().getTime();
  const tooOld =
    session && request.maxAge !== null && now - session.authTime.getTime() > request.maxAge * 1000;
  const needLogin = !session || !user || tooOld || (request.prompt.includes('login') && !justSignedIn);
  if (needLogin) {
    if (request.prompt.includes('none')) {
      throw new RedirectableError(new OAuthError('login_required', 'the user is not signed in'), target);
    }
    const interaction = await startInteraction(c, server, tenant, request);
    return show(
      c,
      loginPage({
        action: actionOf(c, server, tenant, 'login'),
        redirectUri: request.redirectUri,
        interaction: interaction.id,
        csrf: interaction.csrf,
        tenantName: tenant.slug,
        clientName: client.name,
        email: request.loginHint ?? undefined,
      }),
    );
  }
  if (await needsConsent(server, tenant.id, session.userId, client, request)) {
    if (request.prompt.includes('none')) {
      throw new RedirectableError(
        new OAuthError('consent_required', 'the user has not allowed these scopes'),
        target,
      );
    }
    const interaction = await startInteraction(c, server, tenant, request);
    return show(
      c,
      consentPage({
        action: actionOf(c, server, tenant, 'consent'),
        redirectUri: request.redirectUri,
        interaction: interaction.id,
        csrf: interaction.csrf,
        clientName: client.name,
        userEmail: user.email,
        scopes: request.scope,
      }),
    );
  }
  return sendCode(c, server, tenant, request, session);
}

/** The open interaction of this browser (the CSRF token must match the form and the cookie). */
export async function interactionOf(c: Context<AppEnv>, server: OAuthServer, tenant: ResolvedTenant) {
  const form = formParams(c);
  const id = param(form, 'interaction', 100) ?? '';
  const csrf = param(form, 'csrf', 100) ?? '';
  const cookie = getCookie(c, CSRF_COOKIE) ?? '';
  const request = cookie === csrf ? await server.requests.interaction(tenant.id, id, csrf) : undefined;
  if (!request) {
    throw new OAuthError(
      'invalid_request',
      'this sign-in page has expired or was opened elsewhere; start again',
    );
  }
  const client = await server.clients.get(tenant.id, request.clientId);
  if (!client) throw new OAuthError('invalid_client', 'the client is gone');
  return { form, id, csrf, request, client };
}
