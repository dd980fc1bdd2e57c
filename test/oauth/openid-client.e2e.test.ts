import { exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SignedInUser } from '../support/app.ts';
import {
  authorizeInBrowser,
  type Callbacks,
  databaseKind,
  discover,
  freshChecks,
  launchChromium,
  refusal,
  registerClient,
  startCallbacks,
  startWarden,
  type Warden,
} from './e2e-support.ts';

// The relying party is openid-client (an OpenID-certified library), the user agent headless Chromium,
// the authorization server the real service listening on loopback. Nothing is mocked.
describe(`openid-client and Chromium against Warden's OAuth server (${databaseKind.name})`, () => {
  let warden: Warden;
  let callbacks: Callbacks;
  let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
  /** Why Chromium did not start: every test then fails with it (a missing browser is never a skip). */
  let noBrowser: unknown;
  let page: Page;
  let slugA: string;
  let slugB: string;
  let ownerA: SignedInUser;
  let ownerB: SignedInUser;
  /** The user who signs in through the browser (a member: no clients:manage, no users:read). */
  let alice: SignedInUser;

  beforeAll(async () => {
    [warden, callbacks] = await Promise.all([startWarden(), startCallbacks()]);
    try {
      chromium = await launchChromium();
      page = chromium.context.pages()[0] ?? (await chromium.context.newPage());
    } catch (error) {
      noBrowser = error;
    }
    [slugA, slugB] = await Promise.all([warden.t.tenant(), warden.t.tenant()]).then((ts) =>
      ts.map((t) => t.slug),
    );
    [ownerA, ownerB, alice] = await Promise.all([
      warden.t.user({ tenant: slugA, role: 'owner' }),
      warden.t.user({ tenant: slugB, role: 'owner' }),
      warden.t.user({ tenant: slugA, role: 'member', name: 'Alice Example' }),
    ]);
  });

  afterAll(async () => {
    await chromium?.close();
    await callbacks?.close();
    await warden?.close();
  });

  // Each test starts signed out: the browser keeps no Warden session from the test before.
  beforeEach(async () => {
    if (!chromium) throw noBrowser;
    await chromium.context.clearCookies();
  });

  const issuerA = () => warden.issuer(slugA);

  /** A confidential client of tenant A with its own redirect URI, and openid-client's configuration for it. */
  async function confidentialClient(body: Record<string, unknown> = {}) {
    const redirectUri = callbacks.uri(`/cb/${crypto.randomUUID()}`);
    const registered = await registerClient(warden, ownerA, {
      type: 'confidential',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      scopes: ['openid', 'profile', 'email', 'offline_access', 'packages:read'],
      ...body,
    });
    const secret = registered.client_secret as string;
    const config = await discover(
      issuerA(),
      registered.client_id,
      {},
      registered.token_endpoint_auth_method === 'client_secret_post'
        ? client.ClientSecretPost(secret)
        : client.ClientSecretBasic(secret),
    );
    return {
      config,
      redirectUri,
      clientId: registered.client_id as string,
      secret,
    };
  }

  /** The authorization-code + PKCE flow through the browser; the tokens openid-client checked. */
  async function codeFlow(
    rp: { config: client.Configuration; redirectUri: string },
    options: { scope?: string; signIn?: boolean; consent?: boolean; dpop?: client.DPoPHandle } = {},
  ) {
    const { url, checks } = await authorizationUrl(rp, {
      scope: options.scope ?? 'openid profile email packages:read',
    });
    const { callback, shown } = await authorizeInBrowser(page, callbacks, url, {
      ...(options.signIn === false ? {} : { user: alice }),
      ...(options.consent === false ? {} : { decision: 'allow' as const }),
    });
    const tokens = await client.authorizationCodeGrant(
      rp.config,
      callback,
      { pkceCodeVerifier: checks.verifier, expectedState: checks.state, expectedNonce: checks.nonce },
      undefined,
      options.dpop ? { DPoP: options.dpop } : undefined,
    );
    return { tokens, callback, shown, checks };
  }

  /** A confidential client of `tenant` able to introspect (the resource server's view). */
  async function introspector(owner: SignedInUser) {
    const registered = await registerClient(warden, owner, {
      type: 'confidential',
      grant_types: ['client_credentials'],
      scopes: ['packages:read'],
      introspection: 'tenant',
    });
    return discover(
      warden.issuer(owner.tenantSlug),
      registered.client_id,
      {},
      client.ClientSecretBasic(registered.client_secret),
    );
  }

  const api = (slug: string, path: string, token: string, init: RequestInit = {}) =>
    fetch(`${warden.base}/t/${slug}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
    });

  it('discovers the tenant issuer by OIDC discovery and by RFC 8414 (path-inserted) metadata', async () => {
    const { config, clientId } = await confidentialClient();
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(issuerA());
    expect(metadata.authorization_endpoint).toBe(`${issuerA()}/oauth/authorize`);
    expect(metadata.token_endpoint).toBe(`${issuerA()}/oauth/token`);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(config.clientMetadata().client_id).toBe(clientId);

    // openid-client's oauth2 algorithm asks /.well-known/oauth-authorization-server/t/<slug> (RFC 8414 §3).
    const oauth2 = await client.discovery(new URL(issuerA()), clientId, undefined, undefined, {
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests],
    });
    expect(oauth2.serverMetadata().issuer).toBe(issuerA());
    expect(oauth2.serverMetadata().pushed_authorization_request_endpoint).toBe(`${issuerA()}/oauth/par`);
    // Each tenant is its own issuer.
    const atB = await discover(warden.issuer(slugB), clientId);
    expect(atB.serverMetadata().issuer).toBe(warden.issuer(slugB));
  });

  it('runs the code flow with PKCE in Chromium through the sign-in and consent pages: state, nonce, iss, ID token, userinfo and the API with the token', async () => {
    const rp = await confidentialClient();
    const { tokens, callback, shown, checks } = await codeFlow(rp);
    expect(shown).toEqual([`/t/${slugA}/oauth/authorize`, `/t/${slugA}/oauth/authorize/login`]);
    expect(callback.pathname).toBe(new URL(rp.redirectUri).pathname);
    expect(callback.searchParams.get('state')).toBe(checks.state);
    expect(callback.searchParams.get('iss')).toBe(issuerA());
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'openid', 'packages:read', 'profile']);

    const claims = tokens.claims();
    expect(claims).toMatchObject({
      iss: issuerA(),
      aud: rp.clientId,
      sub: alice.userId,
      nonce: checks.nonce,
      email: alice.email,
      name: 'Alice Example',
    });
    expect(typeof claims?.auth_time).toBe('number');

    const userinfo = await client.fetchUserInfo(rp.config, tokens.access_token, alice.userId);
    expect(userinfo).toMatchObject({ sub: alice.userId, email: alice.email, name: 'Alice Example' });

    // Warden's own API: the user's role narrowed to the token's scopes.
    const me = await api(slugA, '/v1/me', tokens.access_token);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user_id: alice.userId, permissions: ['packages:read'] });
    expect((await api(slugA, '/v1/packages', tokens.access_token)).status).toBe(200);
    const write = await api(slugA, '/v1/projects', tokens.access_token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'OAUTH', name: 'Not in scope' }),
    });
    expect(write.status).toBe(403); // tracker:write: the member has it, the token's scopes do not
  });

  it('rotates refresh tokens; presenting a rotated-out one fails and revokes the whole grant', async () => {
    const rp = await confidentialClient();
    const { tokens } = await codeFlow(rp);
    const first = tokens.refresh_token!;
    expect(first).toBeTypeOf('string');
    const second = await client.refreshTokenGrant(rp.config, first);
    expect(second.refresh_token).toBeTypeOf('string');
    expect(second.refresh_token).not.toBe(first);
    expect(second.access_token).not.toBe(tokens.access_token);
    // Rotated again: `first` is now two generations old, past the grace replay that
    // WARDEN_REFRESH_GRACE_SECONDS allows the newest token's immediate predecessor (concurrent refreshes).
    const third = await client.refreshTokenGrant(rp.config, second.refresh_token!);
    expect(third.refresh_token).not.toBe(second.refresh_token);
    expect((await client.tokenIntrospection(rp.config, third.access_token)).active).toBe(true);

    expect(await refusal(client.refreshTokenGrant(rp.config, first))).toMatchObject({
      error: 'invalid_grant',
      status: 400,
    });
    // The reuse revoked the grant: the newest refresh token and its access token are dead too.
    expect(await refusal(client.refreshTokenGrant(rp.config, third.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
    });
    expect(await client.tokenIntrospection(rp.config, third.access_token)).toEqual({ active: false });
    expect(await client.tokenIntrospection(rp.config, third.refresh_token!)).toEqual({ active: false });
    expect((await api(slugA, '/v1/me', third.access_token)).status).toBe(401);
  });

  it('introspects active tokens, revokes access and refresh tokens, and then introspects them as inactive', async () => {
    const rp = await confidentialClient();
    const { tokens } = await codeFlow(rp);
    const active = await client.tokenIntrospection(rp.config, tokens.access_token);
    expect(active).toMatchObject({
      active: true,
      client_id: rp.clientId,
      sub: alice.userId,
      iss: issuerA(),
      token_type: 'Bearer',
    });
    expect(String(active.scope).split(' ').sort()).toEqual(['email', 'openid', 'packages:read', 'profile']);
    const refresh = await client.tokenIntrospection(rp.config, tokens.refresh_token!, {
      token_type_hint: 'refresh_token',
    });
    expect(refresh).toMatchObject({ active: true, client_id: rp.clientId, sub: alice.userId });

    await client.tokenRevocation(rp.config, tokens.access_token);
    expect(await client.tokenIntrospection(rp.config, tokens.access_token)).toEqual({ active: false });
    expect((await api(slugA, '/v1/me', tokens.access_token)).status).toBe(401);

    await client.tokenRevocation(rp.config, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    expect(await client.tokenIntrospection(rp.config, tokens.refresh_token!)).toEqual({ active: false });
    expect(await refusal(client.refreshTokenGrant(rp.config, tokens.refresh_token!))).toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('issues client-credentials tokens that act in the API with the requested scope only', async () => {
    const rp = await confidentialClient();
    const tokens = await client.clientCredentialsGrant(rp.config, { scope: 'packages:read' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toBeUndefined();
    const seen = await client.tokenIntrospection(rp.config, tokens.access_token);
    expect(seen).toMatchObject({
      active: true,
      client_id: rp.clientId,
      sub: rp.clientId,
      scope: 'packages:read',
    });
    expect((await api(slugA, '/v1/packages', tokens.access_token)).status).toBe(200);
    // No user behind it: userinfo refuses it.
    expect(
      await refusal(client.fetchUserInfo(rp.config, tokens.access_token, client.skipSubjectCheck)),
    ).toMatchObject({
      status: 403,
    });
  });

  it('a second authorization in the same browser skips sign-in and consent (SSO and remembered consent)', async () => {
    const rp = await confidentialClient();
    const first = await codeFlow(rp);
    expect(first.shown.length).toBe(2);
    const second = await codeFlow(rp, { signIn: false, consent: false });
    expect(second.shown).toEqual([]); // straight from /oauth/authorize to the callback
    expect(second.tokens.claims()?.sub).toBe(alice.userId);
    expect(second.tokens.claims()?.auth_time).toBe(first.tokens.claims()?.auth_time);
    expect(second.tokens.access_token).not.toBe(first.tokens.access_token);
  });

  it('a public client with DPoP: tokens bound to its key through the browser flow, at userinfo, the API and refresh', async () => {
    const redirectUri = callbacks.uri(`/cb/${crypto.randomUUID()}`);
    const registered = await registerClient(warden, ownerA, {
      type: 'public',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'email', 'packages:read'],
    });
    expect(registered.require_dpop).toBe(true);
    expect(registered.client_secret).toBeUndefined();
    const config = await discover(issuerA(), registered.client_id, undefined, client.None());
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const rp = { config, redirectUri };

    const { tokens } = await codeFlow(rp, { scope: 'openid email packages:read', dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(tokens.claims()?.sub).toBe(alice.userId);
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, alice.userId, { DPoP: dpop });
    expect(userinfo.email).toBe(alice.email);

    const me = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${issuerA()}/v1/me`),
      'GET',
      undefined,
      undefined,
      { DPoP: dpop },
    );
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user_id: string }).user_id).toBe(alice.userId);
    // Stolen without the key, the token is worth nothing.
    expect((await api(slugA, '/v1/me', tokens.access_token)).status).toBe(401);

    // The refresh token is bound too: another key cannot use it; the client's own key can.
    const otherKey = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    expect(
      await refusal(client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: otherKey })),
    ).toMatchObject({
      error: 'invalid_grant',
    });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, {
      DPoP: dpop,
    });
    expect(refreshed.token_type.toLowerCase()).toBe('dpop');
  });

  it('pushes the authorization request (PAR); the request_uri works once', async () => {
    const rp = await confidentialClient();
    const checks = await freshChecks();
    const url = await client.buildAuthorizationUrlWithPAR(rp.config, {
      redirect_uri: rp.redirectUri,
      scope: 'openid email',
      code_challenge: checks.challenge,
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const { callback } = await authorizeInBrowser(page, callbacks, url, { user: alice, decision: 'allow' });
    const tokens = await client.authorizationCodeGrant(rp.config, callback, {
      pkceCodeVerifier: checks.verifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
    });
    expect(tokens.claims()).toMatchObject({ sub: alice.userId, email: alice.email });

    const before = callbacks.received.length;
    const again = await page.goto(url.toString());
    expect(again?.status()).toBe(400);
    expect(await page.locator('.error').textContent()).toBe('invalid_request_uri');
    expect(callbacks.received.length).toBe(before);
  });

  it('authenticates a client by private_key_jwt at the token and introspection endpoints', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = crypto.randomUUID();
    const registered = await registerClient(warden, ownerA, {
      type: 'confidential',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] },
      grant_types: ['client_credentials'],
      scopes: ['packages:read'],
    });
    expect(registered.client_secret).toBeUndefined();
    const config = await discover(
      issuerA(),
      registered.client_id,
      {},
      client.PrivateKeyJwt({ key: privateKey, kid }),
    );
    const tokens = await client.clientCredentialsGrant(config, { scope: 'packages:read' });
    expect(await client.tokenIntrospection(config, tokens.access_token)).toMatchObject({
      active: true,
      client_id: registered.client_id,
    });

    const stranger = await generateKeyPair('ES256');
    const forged = await discover(
      issuerA(),
      registered.client_id,
      {},
      client.PrivateKeyJwt({ key: stranger.privateKey, kid }),
    );
    expect(await refusal(client.clientCredentialsGrant(forged, { scope: 'packages:read' }))).toMatchObject({
      error: 'invalid_client',
    });
  });

  /** An authorization URL of `rp` with fresh PKCE, state and nonce, and extra parameters. */
  async function authorizationUrl(rp: { config: client.Configuration; redirectUri: string }, extra = {}) {
    const checks = await freshChecks();
    const url = client.buildAuthorizationUrl(rp.config, {
      redirect_uri: rp.redirectUri,
      scope: 'openid email',
      code_challenge: checks.challenge,
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
      ...extra,
    });
    return { url, checks };
  }

  it('answers with response_mode=form_post: Chromium runs the auto-submitting page and posts code, state and iss to the callback', async () => {
    const rp = await confidentialClient();
    const { url, checks } = await authorizationUrl(rp, { response_mode: 'form_post' });
    const { request, received } = await authorizeInBrowser(page, callbacks, url, {
      user: alice,
      decision: 'allow',
    });
    expect(received.method).toBe('POST');
    expect(received.url.search).toBe(''); // nothing in the URL (or in logs and history)
    const posted = new URLSearchParams(received.body);
    expect(posted.get('state')).toBe(checks.state);
    expect(posted.get('iss')).toBe(issuerA());
    const tokens = await client.authorizationCodeGrant(rp.config, request, {
      pkceCodeVerifier: checks.verifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
    });
    expect(tokens.claims()?.sub).toBe(alice.userId);
  });

  it('prompt=none without a session is login_required; prompt=login shows the sign-in page despite one', async () => {
    const rp = await confidentialClient();
    const silent = await authorizationUrl(rp, { prompt: 'none' });
    const refused = await authorizeInBrowser(page, callbacks, silent.url);
    expect(refused.shown).toEqual([]);
    expect(refused.callback.searchParams.get('error')).toBe('login_required');
    expect(refused.callback.searchParams.get('state')).toBe(silent.checks.state);

    const first = await codeFlow(rp, { scope: 'openid email' });
    // Signed in now: prompt=none gets a code without any page.
    const again = await authorizationUrl(rp, { prompt: 'none' });
    const quiet = await authorizeInBrowser(page, callbacks, again.url);
    expect(quiet.shown).toEqual([]);
    expect(quiet.callback.searchParams.get('code')).toBeTypeOf('string');

    const forced = await authorizationUrl(rp, { prompt: 'login' });
    const { callback, shown } = await authorizeInBrowser(page, callbacks, forced.url, { user: alice });
    // The sign-in page, then straight back (consent is remembered): the login form's answer is the redirect.
    expect(shown).toEqual([`/t/${slugA}/oauth/authorize`]);
    const tokens = await client.authorizationCodeGrant(rp.config, callback, {
      pkceCodeVerifier: forced.checks.verifier,
      expectedState: forced.checks.state,
      expectedNonce: forced.checks.nonce,
    });
    expect(tokens.claims()?.auth_time).toBeGreaterThanOrEqual(first.tokens.claims()?.auth_time ?? 0);
    expect(tokens.claims()?.sid).not.toBe(first.tokens.claims()?.sid); // a new sign-in session
  });

  it('the user withdraws consent and signs out (end-session): grants revoked, and the next authorization asks again', async () => {
    const signedOut = callbacks.uri(`/signed-out/${crypto.randomUUID()}`);
    const rp = await confidentialClient({ post_logout_redirect_uris: [signedOut] });
    const first = await codeFlow(rp, { scope: 'openid email' });

    const withdrawn = await api(slugA, `/v1/oauth/consents/${rp.clientId}`, alice.token, {
      method: 'DELETE',
    });
    expect(withdrawn.status).toBe(204);
    expect(await client.tokenIntrospection(rp.config, first.tokens.access_token)).toEqual({ active: false });
    const consentOnly = await codeFlow(rp, { scope: 'openid email', signIn: false });
    expect(consentOnly.shown).toEqual([`/t/${slugA}/oauth/authorize`]); // still signed in: consent only

    const state = client.randomState();
    const endSession = client.buildEndSessionUrl(rp.config, {
      id_token_hint: consentOnly.tokens.id_token!,
      post_logout_redirect_uri: signedOut,
      state,
    });
    const { callback } = await authorizeInBrowser(page, callbacks, endSession);
    expect(callback.toString()).toBe(`${signedOut}?state=${state}`);

    const signInOnly = await codeFlow(rp, { scope: 'openid email', consent: false });
    expect(signInOnly.shown).toEqual([`/t/${slugA}/oauth/authorize`]); // signed out: sign-in only
    expect(signInOnly.tokens.claims()?.sub).toBe(alice.userId);
  });

  describe('refusals', () => {
    it('malformed requests get the RFC 6749 error in the endpoint’s own format, never a 500 or a redirect elsewhere', async () => {
      const rp = await confidentialClient();
      const basic = `Basic ${btoa(`${rp.clientId}:${rp.secret}`)}`;
      const post = (path: string, body: string, headers: Record<string, string> = {}) =>
        fetch(`${issuerA()}${path}`, {
          method: 'POST',
          headers: {
            authorization: basic,
            'content-type': 'application/x-www-form-urlencoded',
            ...headers,
          },
          body,
          redirect: 'manual',
        });
      // What is wrong, the answer, its status, its error and a word its description must hold.
      const cases: [string, Promise<Response>, number, string, string?][] = [
        ['no grant_type', post('/oauth/token', ''), 400, 'invalid_request'],
        ['an unknown grant', post('/oauth/token', 'grant_type=magic'), 400, 'unsupported_grant_type'],
        [
          'a grant the client may not use',
          post('/oauth/token', 'grant_type=password&username=a%40example.com&password=x'),
          400,
          'unauthorized_client',
        ],
        [
          'a repeated parameter',
          post('/oauth/token', 'grant_type=client_credentials&scope=packages%3Aread&scope=openid'),
          400,
          'invalid_request',
        ],
        [
          'JSON instead of a form',
          post('/oauth/token', '{"grant_type":"client_credentials"}', { 'content-type': 'application/json' }),
          400,
          'invalid_request',
        ],
        [
          'an unknown scope',
          post('/oauth/token', 'grant_type=client_credentials&scope=root'),
          400,
          'invalid_scope',
        ],
        ['introspection without a token', post('/oauth/introspect', ''), 400, 'invalid_request'],
        [
          'revocation without client authentication',
          post('/oauth/revoke', 'token=x', { authorization: '' }),
          401,
          'invalid_client',
        ],
        [
          'a pushed request with plain PKCE',
          post(
            '/oauth/par',
            `response_type=code&redirect_uri=${encodeURIComponent(rp.redirectUri)}&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=plain`,
          ),
          400,
          'invalid_request',
          'plain',
        ],
      ];
      for (const [what, answer, status, error, word] of cases) {
        const response = await answer;
        expect(response.status, what).toBe(status);
        expect(response.headers.get('content-type'), what).toContain('application/json');
        const body = (await response.json()) as { error: string; error_description: string };
        expect(body.error, what).toBe(error);
        if (word) expect(body.error_description, what).toContain(word);
      }

      // The authorization endpoint with an unknown client: a page, never a redirect.
      const unknown = await fetch(
        `${issuerA()}/oauth/authorize?response_type=code&client_id=${crypto.randomUUID()}&redirect_uri=${encodeURIComponent(callbacks.uri('/cb'))}`,
        { redirect: 'manual' },
      );
      expect(unknown.status).toBe(400);
      expect(unknown.headers.get('location')).toBeNull();
      expect(unknown.headers.get('content-type')).toContain('text/html');
    });

    it('an unregistered redirect URI gets an error page and the browser stays on Warden', async () => {
      const rp = await confidentialClient();
      const checks = await freshChecks();
      const url = client.buildAuthorizationUrl(rp.config, {
        redirect_uri: callbacks.uri('/not-registered'),
        scope: 'openid',
        code_challenge: checks.challenge,
        code_challenge_method: 'S256',
        state: checks.state,
      });
      const before = callbacks.received.length;
      const response = await page.goto(url.toString());
      expect(response?.status()).toBe(400);
      expect(new URL(page.url()).origin).toBe(warden.base);
      expect(await page.locator('.error').textContent()).toBe('invalid_request');
      expect(await page.locator('#email').count()).toBe(0);
      expect(callbacks.received.length).toBe(before);
    });

    it('a missing or wrong PKCE verifier is invalid_grant', async () => {
      const rp = await confidentialClient();
      for (const verifier of [undefined, client.randomPKCECodeVerifier()]) {
        const { url, checks } = await authorizationUrl(rp, { scope: 'openid' });
        const { callback } = await authorizeInBrowser(page, callbacks, url, {
          ...(verifier === undefined ? { user: alice, decision: 'allow' as const } : {}),
        });
        expect(callback.searchParams.get('code')).toBeTypeOf('string');
        const exchange = client.authorizationCodeGrant(rp.config, callback, {
          ...(verifier ? { pkceCodeVerifier: verifier } : {}),
          expectedState: checks.state,
        });
        expect(await refusal(exchange)).toMatchObject({ error: 'invalid_grant', status: 400 });
        // The failed attempt used the code up: the right verifier cannot redeem it afterwards.
        const late = client.authorizationCodeGrant(rp.config, callback, {
          pkceCodeVerifier: checks.verifier,
          expectedState: checks.state,
        });
        expect(await refusal(late)).toMatchObject({ error: 'invalid_grant' });
      }
    });

    it('a reused code is invalid_grant and revokes the tokens of the first exchange', async () => {
      const rp = await confidentialClient();
      const { tokens, callback, checks } = await codeFlow(rp);
      expect((await client.tokenIntrospection(rp.config, tokens.access_token)).active).toBe(true);
      const replay = client.authorizationCodeGrant(rp.config, callback, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
      });
      expect(await refusal(replay)).toMatchObject({ error: 'invalid_grant' });
      expect(await client.tokenIntrospection(rp.config, tokens.access_token)).toEqual({ active: false });
      expect(await client.tokenIntrospection(rp.config, tokens.refresh_token!)).toEqual({ active: false });
      expect((await api(slugA, '/v1/me', tokens.access_token)).status).toBe(401);
    });

    it('a wrong client secret is invalid_client, sent by client_secret_basic or client_secret_post', async () => {
      for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
        const rp = await confidentialClient({ token_endpoint_auth_method: method });
        expect(await client.clientCredentialsGrant(rp.config)).toHaveProperty('access_token');
        const wrongSecret = `${rp.secret.slice(0, -1)}${rp.secret.endsWith('A') ? 'B' : 'A'}`;
        const auth = method === 'client_secret_post' ? client.ClientSecretPost : client.ClientSecretBasic;
        const wrong = await discover(issuerA(), rp.clientId, {}, auth(wrongSecret));
        expect(await refusal(client.clientCredentialsGrant(wrong))).toMatchObject({
          error: 'invalid_client',
          status: 401,
        });
        expect(await refusal(client.tokenIntrospection(wrong, 'anything'))).toMatchObject({
          error: 'invalid_client',
        });
      }
    });

    it("a token of tenant A is nothing at tenant B: inactive at B's introspection, 401 at B's API", async () => {
      const rp = await confidentialClient();
      const { tokens } = await codeFlow(rp);
      const [atB, atA] = await Promise.all([introspector(ownerB), introspector(ownerA)]);
      expect((await client.tokenIntrospection(atA, tokens.access_token)).active).toBe(true);
      expect(await client.tokenIntrospection(atB, tokens.access_token)).toEqual({ active: false });
      expect(await client.tokenIntrospection(atB, tokens.refresh_token!)).toEqual({ active: false });
      expect((await api(slugB, '/v1/me', tokens.access_token)).status).toBe(401);
      expect((await api(slugB, '/v1/packages', tokens.access_token)).status).toBe(401);
      // And the client itself is unknown at B.
      const clientAtB = await discover(
        warden.issuer(slugB),
        rp.clientId,
        {},
        client.ClientSecretBasic(rp.secret),
      );
      expect(await refusal(client.clientCredentialsGrant(clientAtB))).toMatchObject({
        error: 'invalid_client',
      });
    });

    it('a scope beyond the client’s allowance is invalid_scope, at the authorization and the token endpoint', async () => {
      const rp = await confidentialClient();
      const { url, checks } = await authorizationUrl(rp, { scope: 'openid tracker:write' });
      const { callback, shown } = await authorizeInBrowser(page, callbacks, url);
      expect(shown).toEqual([]); // refused before any sign-in page
      expect(callback.searchParams.get('error')).toBe('invalid_scope');
      expect(callback.searchParams.get('state')).toBe(checks.state);
      expect(callback.searchParams.get('iss')).toBe(issuerA());
      expect(
        await refusal(client.authorizationCodeGrant(rp.config, callback, { expectedState: checks.state })),
      ).toMatchObject({ error: 'invalid_scope' });

      expect(
        await refusal(client.clientCredentialsGrant(rp.config, { scope: 'tracker:write' })),
      ).toMatchObject({
        error: 'invalid_scope',
        status: 400,
      });
    });

    it('plain PKCE is refused (back to the client as invalid_request)', async () => {
      const rp = await confidentialClient();
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(rp.config, {
        redirect_uri: rp.redirectUri,
        scope: 'openid',
        code_challenge: verifier,
        code_challenge_method: 'plain',
        state,
      });
      const { callback, shown } = await authorizeInBrowser(page, callbacks, url);
      expect(shown).toEqual([]);
      expect(callback.searchParams.get('code')).toBeNull();
      expect(callback.searchParams.get('error')).toBe('invalid_request');
      expect(callback.searchParams.get('error_description')).toContain('plain');
      expect(callback.searchParams.get('state')).toBe(state);
    });

    it('consent denied comes back as access_denied at the callback', async () => {
      const rp = await confidentialClient();
      const { url, checks } = await authorizationUrl(rp);
      const { callback } = await authorizeInBrowser(page, callbacks, url, { user: alice, decision: 'deny' });
      expect(callback.searchParams.get('code')).toBeNull();
      expect(callback.searchParams.get('error')).toBe('access_denied');
      expect(callback.searchParams.get('state')).toBe(checks.state);
      expect(callback.searchParams.get('iss')).toBe(issuerA());
      const exchange = client.authorizationCodeGrant(rp.config, callback, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
      });
      expect(await refusal(exchange)).toMatchObject({ error: 'access_denied' });
      // Nothing was remembered: the next request asks again.
      const next = await authorizeInBrowser(
        page,
        callbacks,
        client.buildAuthorizationUrl(rp.config, {
          redirect_uri: rp.redirectUri,
          scope: 'openid email',
          code_challenge: checks.challenge,
          code_challenge_method: 'S256',
          state: checks.state,
        }),
        { decision: 'allow' },
      );
      expect(next.shown).toEqual([`/t/${slugA}/oauth/authorize`]);
    });
  });
});
