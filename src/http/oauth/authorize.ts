import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import {
  type ClientState,
  coversScopes,
  findConsent,
  handleConsentCommand,
} from '../../commands/oauth/index.ts';
import type { ResolvedTenant } from '../../identity/principal.ts';
import { authenticateClient } from '../../oauth/clients.ts';
import { invalidRequest, OAuthError } from '../../oauth/errors.ts';
import { authorizationStreamId, browserSessionStreamId } from '../../oauth/events.ts';
import {
  consentPage,
  errorPage,
  formPostPage,
  loginPage,
  type Page,
  signedOutPage,
} from '../../oauth/pages.ts';
import type { AuthorizationRequest } from '../../oauth/requests.ts';
import type { OAuthServer } from '../../oauth/server.ts';
import type { AppEnv } from '../kit/env.ts';
import { oauthDoc } from './docs.ts';
import {
  formParams,
  issuerTenantOf,
  noStore,
  oauthErrorResponse,
  oauthHandler,
  param,
  refuseRepeated,
  resolveScope,
} from './support.ts';
import { CLIENT_AUTH_FIELDS } from './token.ts';

export interface OAuthAuthorizeRouteDeps {
  server: OAuthServer;
  clientAddress: (c: Context<AppEnv>) => string | undefined;
}

const SESSION_COOKIE = 'warden_sso';
const CSRF_COOKIE = 'warden_oauth_csrf';
const INTERACTION_TTL_SECONDS = 600;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const PROMPTS = new Set(['none', 'login', 'consent', 'select_account']);

/** An error the authorization endpoint may send back to the client (its redirect URI is verified). */
class RedirectableError {
  constructor(
    readonly error: OAuthError,
    readonly target: { redirectUri: string; state: string | null; responseMode: 'query' | 'form_post' },
  ) {}
}

function show(c: Context<AppEnv>, pageOf: Page, status = 200) {
  noStore(c);
  c.header('Content-Security-Policy', pageOf.csp);
  c.header('X-Frame-Options', 'DENY');
  return c.html(pageOf.html, status as 200);
}

/**
 * The authorization endpoint and its pages (RFC 6749 §4.1, OIDC Core §3.1, RFC 9126 PAR, RFC 9207
 * `iss`), and end-session. A client or redirect URI that cannot be verified is never redirected to:
 * the browser gets an error page. Every other error goes back to the client's redirect URI.
 */
export function oauthAuthorizeRoutes(app: OpenAPIHono<AppEnv>, deps: OAuthAuthorizeRouteDeps) {
  const { server } = deps;

  const cookiePath = (c: Context<AppEnv>, tenant: ResolvedTenant) =>
    new URL(server.issuerFor(tenant, c.req.url)).pathname.replace(/\/$/, '') || '/';
  const secure = (c: Context<AppEnv>) => new URL(c.req.url).protocol === 'https:';
  const metadata = (c: Context<AppEnv>, tenantId: string, actorId: string) => ({
    tenantId,
    actorId,
    requestId: c.get('requestId'),
    correlationId: c.get('requestId'),
  });

  /** Sends the authorization response (code or error) to the verified redirect URI. */
  function respond(
    c: Context<AppEnv>,
    target: RedirectableError['target'],
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

  /** Validates an authorization request's parameters for a known client; errors name what is wrong. */
  function validate(
    params: URLSearchParams | Record<string, string>,
    client: ClientState,
    target: RedirectableError['target'],
  ): AuthorizationRequest {
    const p = params instanceof URLSearchParams ? params : new URLSearchParams(params);
    const fail = (error: OAuthError) => new RedirectableError(error, target);
    try {
      if (p.has('request'))
        throw new OAuthError('request_not_supported', 'request objects are not supported; use PAR');
      const responseType = param(p, 'response_type');
      if (responseType !== 'code') {
        throw new OAuthError('unsupported_response_type', 'only response_type=code is supported');
      }
      if (!client.grantTypes.includes('authorization_code')) {
        throw new OAuthError('unauthorized_client', 'this client may not use the authorization code grant');
      }
      const scope = resolveScope(param(p, 'scope'), client, { user: true, defaultToClient: false });
      const challenge = param(p, 'code_challenge');
      const method = param(p, 'code_challenge_method');
      if (!challenge) throw invalidRequest('code_challenge is required (PKCE with S256)');
      if (method !== 'S256') throw invalidRequest('code_challenge_method must be S256 (plain is refused)');
      if (!CHALLENGE.test(challenge)) throw invalidRequest('code_challenge must be 43 base64url characters');
      const prompt = (param(p, 'prompt') ?? '').split(' ').filter(Boolean);
      if (prompt.some((x) => !PROMPTS.has(x))) throw invalidRequest('unknown prompt value');
      if (prompt.includes('none') && prompt.length > 1) throw invalidRequest('prompt=none stands alone');
      const maxAgeText = param(p, 'max_age', 10);
      const maxAge = maxAgeText === undefined ? null : Number(maxAgeText);
      if (maxAge !== null && !(Number.isInteger(maxAge) && maxAge >= 0)) {
        throw invalidRequest('max_age must be a whole number of seconds');
      }
      const dpopJkt = param(p, 'dpop_jkt', 100) ?? null;
      return {
        clientId: client.clientId,
        redirectUri: target.redirectUri,
        scope,
        state: target.state,
        nonce: param(p, 'nonce', 500) ?? null,
        codeChallenge: challenge,
        responseMode: target.responseMode,
        prompt,
        maxAge,
        loginHint: param(p, 'login_hint', 254) ?? null,
        dpopJkt,
      };
    } catch (error) {
      if (error instanceof OAuthError) throw fail(error);
      throw error;
    }
  }

  /**
   * Reads the authorization request from the query (or a POSTed form), resolving a pushed request
   * (`request_uri`), and verifies client and redirect URI before anything can be sent back.
   */
  async function readRequest(c: Context<AppEnv>, tenant: ResolvedTenant) {
    const url = new URL(c.req.url);
    let params: URLSearchParams = c.req.method === 'POST' ? formParams(c) : url.searchParams;
    refuseRepeated(params);
    const clientId = param(params, 'client_id', 100);
    if (!clientId) throw new OAuthError('invalid_request', 'client_id is required');
    const client = await server.clients.get(tenant.id, clientId);
    if (!client) throw new OAuthError('invalid_client', 'unknown client');
    const requestUri = param(params, 'request_uri', 200);
    if (requestUri) {
      const pushed = await server.requests.takePushed(tenant.id, client.clientId, requestUri);
      if (!pushed) {
        throw new OAuthError('invalid_request_uri', 'the request_uri is unknown, used or expired');
      }
      params = new URLSearchParams(pushed);
    } else if (client.requirePar) {
      // Known client and URI are checked first, so this error can go back to the client.
      const uri = param(params, 'redirect_uri');
      if (uri && client.redirectUris.includes(uri)) {
        throw new RedirectableError(
          invalidRequest('this client must push its authorization requests (PAR)'),
          {
            redirectUri: uri,
            state: param(params, 'state', 1000) ?? null,
            responseMode: 'query',
          },
        );
      }
      throw invalidRequest('this client must push its authorization requests (PAR)');
    }
    const redirectUri = param(params, 'redirect_uri');
    // Exact string comparison with a registered URI (RFC 9700 §2.1); none given is refused too.
    if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
      throw new OAuthError('invalid_request', 'redirect_uri is missing or not registered for this client');
    }
    const modeParam = param(params, 'response_mode', 20);
    const target = {
      redirectUri,
      state: param(params, 'state', 1000) ?? null,
      responseMode: modeParam === 'form_post' ? ('form_post' as const) : ('query' as const),
    };
    if (modeParam !== undefined && modeParam !== 'query' && modeParam !== 'form_post') {
      throw new RedirectableError(invalidRequest('response_mode must be query or form_post'), target);
    }
    return { client, request: validate(params, client, target), target };
  }

  /** Signed in, consented: the code goes to the client. */
  async function issueCode(
    c: Context<AppEnv>,
    tenant: ResolvedTenant,
    request: AuthorizationRequest,
    session: { sid: string; userId: string; authTime: Date },
  ) {
    const now = server.clock();
    const { code, codeId, expiresAt } = await server.codes.issue({
      tenantId: tenant.id,
      clientId: request.clientId,
      userId: session.userId,
      redirectUri: request.redirectUri,
      scope: request.scope,
      nonce: request.nonce,
      codeChallenge: request.codeChallenge,
      authTime: session.authTime,
      sessionId: session.sid,
      dpopJkt: request.dpopJkt,
    });
    await server.record(
      authorizationStreamId(codeId),
      'OAuthAuthorizationCodeIssued',
      {
        codeId,
        tenantId: tenant.id,
        clientId: request.clientId,
        userId: session.userId,
        scope: request.scope,
        redirectUri: request.redirectUri,
        expiresAt: expiresAt.toISOString(),
        at: now.toISOString(),
      },
      metadata(c, tenant.id, session.userId),
    );
    return respond(
      c,
      { redirectUri: request.redirectUri, state: request.state, responseMode: request.responseMode },
      { code },
      server.issuerFor(tenant, c.req.url),
    );
  }

  async function startInteraction(c: Context<AppEnv>, tenant: ResolvedTenant, request: AuthorizationRequest) {
    const interaction = await server.requests.startInteraction(tenant.id, request, INTERACTION_TTL_SECONDS);
    setCookie(c, CSRF_COOKIE, interaction.csrf, {
      path: cookiePath(c, tenant),
      httpOnly: true,
      sameSite: 'Lax',
      secure: secure(c),
      maxAge: INTERACTION_TTL_SECONDS,
    });
    return interaction;
  }

  const actionOf = (c: Context<AppEnv>, tenant: ResolvedTenant, step: 'login' | 'consent') =>
    `${new URL(server.issuerFor(tenant, c.req.url)).pathname.replace(/\/$/, '')}/oauth/authorize/${step}`;

  /**
   * What the request needs next: a sign-in, a consent, or nothing (the code is issued). `prompt=none`
   * turns each page it would show into an error for the client.
   */
  async function proceed(
    c: Context<AppEnv>,
    tenant: ResolvedTenant,
    client: ClientState,
    request: AuthorizationRequest,
    justSignedIn: boolean,
  ) {
    const target = {
      redirectUri: request.redirectUri,
      state: request.state,
      responseMode: request.responseMode,
    };
    const session = await server.browser.find(tenant.id, getCookie(c, SESSION_COOKIE));
    const user = session ? await server.users.current(tenant.id, session.userId) : undefined;
    const now = server.clock().getTime();
    const tooOld =
      session && request.maxAge !== null && now - session.authTime.getTime() > request.maxAge * 1000;
    const needLogin = !session || !user || tooOld || (request.prompt.includes('login') && !justSignedIn);
    if (needLogin) {
      if (request.prompt.includes('none')) {
        throw new RedirectableError(new OAuthError('login_required', 'the user is not signed in'), target);
      }
      const interaction = await startInteraction(c, tenant, request);
      return show(
        c,
        loginPage({
          action: actionOf(c, tenant, 'login'),
          redirectUri: request.redirectUri,
          interaction: interaction.id,
          csrf: interaction.csrf,
          tenantName: tenant.slug,
          clientName: client.name,
          email: request.loginHint ?? undefined,
        }),
      );
    }
    const consent = await findConsent(server.store, tenant.id, session.userId, client.clientId);
    const needConsent =
      !client.skipConsent && (!coversScopes(consent, request.scope) || request.prompt.includes('consent'));
    if (needConsent) {
      if (request.prompt.includes('none')) {
        throw new RedirectableError(
          new OAuthError('consent_required', 'the user has not allowed these scopes'),
          target,
        );
      }
      const interaction = await startInteraction(c, tenant, request);
      return show(
        c,
        consentPage({
          action: actionOf(c, tenant, 'consent'),
          redirectUri: request.redirectUri,
          interaction: interaction.id,
          csrf: interaction.csrf,
          clientName: client.name,
          userEmail: user.email,
          scopes: request.scope,
        }),
      );
    }
    return issueCode(c, tenant, request, session);
  }

  /** Runs an authorization step: redirectable errors go to the client, the rest to an error page. */
  const step =
    (handler: (c: Context<AppEnv>, tenant: ResolvedTenant) => Promise<Response>) =>
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

  const authorize = step(async (c, tenant) => {
    const { client, request } = await readRequest(c, tenant);
    return proceed(c, tenant, client, request, false);
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

  /** The open interaction of this browser (the CSRF token must match the form and the cookie). */
  async function interactionOf(c: Context<AppEnv>, tenant: ResolvedTenant) {
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
    step(async (c, tenant) => {
      const { form, id, csrf, request, client } = await interactionOf(c, tenant);
      const email = (param(form, 'email', 254) ?? '').trim().toLowerCase();
      const password = param(form, 'password', 1024) ?? '';
      const again = (error: string, status = 200) =>
        show(
          c,
          loginPage({
            action: actionOf(c, tenant, 'login'),
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
      const key = { tenantId: tenant.id, email, address: deps.clientAddress(c) };
      if (server.throttle) {
        const decision = await server.throttle.checkLogin(key);
        if (!decision.allowed) {
          c.header('Retry-After', String(decision.retryAfterSeconds));
          return again(`Too many attempts. Wait ${decision.retryAfterSeconds} seconds and try again.`, 429);
        }
      }
      const checked =
        email && password
          ? await server.users.verifyCredentials(tenant.id, email, password)
          : { ok: false as const };
      if (!checked.ok) {
        if (!('reason' in checked) || checked.reason !== 'not_active')
          await server.throttle?.recordFailure(key);
        return again(
          'reason' in checked && checked.reason === 'not_active'
            ? 'Your account waits for approval.'
            : 'Wrong email or password.',
        );
      }
      await server.throttle?.recordSuccess(key);
      if (!(await server.requests.finish(id))) {
        throw new OAuthError('invalid_request', 'this sign-in page was submitted already');
      }
      const started = await server.browser.start(tenant.id, checked.user.id);
      setCookie(c, SESSION_COOKIE, started.cookie, {
        path: cookiePath(c, tenant),
        httpOnly: true,
        sameSite: 'Lax',
        secure: secure(c),
        maxAge: server.config.WARDEN_OAUTH_SESSION_TTL_HOURS * 3600,
      });
      // The rest of this request sees the new session (the cookie reaches the browser with the answer).
      c.req.raw.headers.set('cookie', `${SESSION_COOKIE}=${started.cookie}`);
      await server.record(
        browserSessionStreamId(tenant.id, checked.user.id),
        'OAuthUserSignedIn',
        {
          tenantId: tenant.id,
          userId: checked.user.id,
          sid: started.session.sid,
          at: server.clock().toISOString(),
        },
        metadata(c, tenant.id, checked.user.id),
      );
      return proceed(c, tenant, client, request, true);
    }),
  );

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
    step(async (c, tenant) => {
      const { form, id, request, client } = await interactionOf(c, tenant);
      const target = {
        redirectUri: request.redirectUri,
        state: request.state,
        responseMode: request.responseMode,
      };
      const session = await server.browser.find(tenant.id, getCookie(c, SESSION_COOKIE));
      if (!session) throw new OAuthError('login_required', 'your sign-in has ended; start again');
      if (!(await server.requests.finish(id))) {
        throw new OAuthError('invalid_request', 'this consent page was submitted already');
      }
      const decision = param(form, 'decision', 10);
      if (decision !== 'allow') {
        throw new RedirectableError(new OAuthError('access_denied', 'the user denied the request'), target);
      }
      await handleConsentCommand(
        server.store,
        {
          type: 'GrantConsent',
          tenantId: tenant.id,
          userId: session.userId,
          clientId: client.clientId,
          scopes: request.scope,
          at: server.clock().toISOString(),
        },
        { metadata: metadata(c, tenant.id, session.userId) },
      );
      return issueCode(c, tenant, request, session);
    }),
  );

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
      const issuer = server.issuerFor(tenant, c.req.url);
      const client = await authenticateClient(
        { authorization: c.req.header('authorization'), form, audiences: [issuer, `${issuer}/oauth/par`] },
        { registry: server.clients, tenantId: tenant.id, issuer, replay: server.replay, now: server.clock() },
      );
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
        validate(form, client, target);
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

  /** The client an ID token hint names, if it verifies with this tenant's keys (expired is fine). */
  async function hintedClient(tenant: ResolvedTenant, hint: string | undefined) {
    if (!hint) return undefined;
    try {
      const header = decodeProtectedHeader(hint);
      const key = header.kid ? await server.keys.verifier(tenant.id, header.kid) : undefined;
      if (!key) return undefined;
      const claims = decodeJwt(hint);
      await jwtVerify(hint, key.key, { currentDate: new Date(((claims.exp ?? 0) - 1) * 1000) });
      return typeof claims.aud === 'string'
        ? claims.aud
        : Array.isArray(claims.aud)
          ? claims.aud[0]
          : undefined;
    } catch {
      return undefined;
    }
  }

  const endSession = step(async (c, tenant) => {
    const params = c.req.method === 'POST' ? formParams(c) : new URL(c.req.url).searchParams;
    const hinted = await hintedClient(tenant, param(params, 'id_token_hint', 8192));
    const clientId = param(params, 'client_id', 100) ?? hinted;
    const session = await server.browser.find(tenant.id, getCookie(c, SESSION_COOKIE));
    if (session) {
      await server.browser.end(tenant.id, session.sid);
      await server.record(
        browserSessionStreamId(tenant.id, session.userId),
        'OAuthUserSignedOut',
        { tenantId: tenant.id, userId: session.userId, sid: session.sid, at: server.clock().toISOString() },
        metadata(c, tenant.id, session.userId),
      );
    }
    deleteCookie(c, SESSION_COOKIE, { path: cookiePath(c, tenant) });
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
}
