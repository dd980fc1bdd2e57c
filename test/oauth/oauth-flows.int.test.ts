import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { oauthFixture, pkce, REDIRECT } from './support.ts';

describe.each(databaseKinds)('OAuth 2.0 / OIDC flows ($name)', ({ fresh }) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(fresh);
  });
  afterAll(() => t?.dispose());

  /** The tenant's JWKS as a remote key set, fetched through the app (no network). */
  const jwksOf = (issuer: string) =>
    createRemoteJWKSet(new URL(`${issuer}/oauth/jwks`), {
      [customFetch]: async (url: string) => t.request(url),
    });

  it('publishes discovery documents per tenant, in both well-known forms, with a JWKS of its own', async () => {
    const o = await oauthFixture(t);
    const oidc = (await (await o.call('/.well-known/openid-configuration')).json()) as LooseJson;
    expect(oidc.issuer).toBe(o.issuer);
    expect(oidc.token_endpoint).toBe(`${o.issuer}/oauth/token`);
    expect(oidc.code_challenge_methods_supported).toEqual(['S256']);
    expect(oidc.authorization_response_iss_parameter_supported).toBe(true);
    const rfc8414 = await t.request(
      `http://localhost/.well-known/oauth-authorization-server/t/${o.tenant.slug}`,
    );
    expect(rfc8414.status).toBe(200);
    expect(((await rfc8414.json()) as LooseJson).issuer).toBe(o.issuer);
    const jwks = (await (await o.call('/oauth/jwks')).json()) as LooseJson;
    expect(jwks.keys.map((k: LooseJson) => k.alg).sort()).toEqual(['EdDSA', 'RS256']);
    expect(jwks.keys.every((k: LooseJson) => !('d' in k))).toBe(true);
    // Another tenant is another issuer with other keys.
    const other = await oauthFixture(t);
    const otherKeys = (await (await other.call('/oauth/jwks')).json()) as LooseJson;
    expect(otherKeys.keys.map((k: LooseJson) => k.kid)).not.toContain(jwks.keys[0].kid);
    expect((await t.request('/t/no-such-tenant/.well-known/openid-configuration')).status).toBe(404);
  });

  it('runs the code flow with PKCE through the sign-in and consent pages: code, state, iss, ID token, userinfo', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const flow = await o.codeFlow(client);
    expect(flow.back.pages).toEqual(['login', 'consent']);
    expect(flow.back.status).toBe(303);
    expect(`${flow.back.url.origin}${flow.back.url.pathname}`).toBe(REDIRECT);
    expect(flow.back.params.state).toBe(flow.state);
    expect(flow.back.params.iss).toBe(o.issuer);
    expect(flow.res.status).toBe(200);
    expect(flow.res.headers.get('cache-control')).toBe('no-store');
    expect(flow.tokens).toMatchObject({ token_type: 'Bearer', scope: 'openid profile email packages:read' });
    expect(flow.tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { payload, protectedHeader } = await jwtVerify(flow.tokens.id_token, jwksOf(o.issuer), {
      issuer: o.issuer,
      audience: client.client_id,
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toMatchObject({
      sub: o.owner.userId,
      nonce: flow.nonce,
      email: o.owner.email,
      azp: client.client_id,
    });
    expect(typeof payload.auth_time).toBe('number');
    expect(typeof payload.at_hash).toBe('string');

    const info = await o.call('/oauth/userinfo', {
      headers: { authorization: `Bearer ${flow.tokens.access_token}` },
    });
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({
      sub: o.owner.userId,
      email: o.owner.email,
      name: 'Test owner',
    });

    // The token acts in Warden's API within its scopes: packages:read yes, tracker:read not granted.
    const api = (path: string) =>
      t.request(`/t/${o.tenant.slug}${path}`, { token: flow.tokens.access_token });
    expect((await api('/v1/packages')).status).toBe(200);
    expect((await api('/v1/projects')).status).toBe(403);
    const me = (await (await api('/v1/me')).json()) as LooseJson;
    expect(me.permissions).toEqual(['packages:read']);

    // A second authorization in the same browser: signed in and consented, straight back with a code.
    const again = await o.authorize({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid packages:read',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    expect(again.pages).toEqual([]);
    expect(again.params.code).toBeTruthy();
  });

  it('rotates refresh tokens; a rotated-out one revokes the whole grant, and introspection says so', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const { tokens } = await o.codeFlow(client, 'openid offline_access packages:read');
    const first = await o.post('/oauth/token', client, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as LooseJson;
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    // Narrowing on refresh is allowed, widening is not.
    const narrow = await o.post('/oauth/token', client, {
      grant_type: 'refresh_token',
      refresh_token: rotated.refresh_token,
      scope: 'packages:read',
    });
    expect(narrow.status).toBe(200);
    const narrowed = (await narrow.json()) as LooseJson;
    expect(narrowed.scope).toBe('packages:read');
    const wide = await o.post('/oauth/token', client, {
      grant_type: 'refresh_token',
      refresh_token: narrowed.refresh_token,
      scope: 'tracker:read',
    });
    expect(wide.status).toBe(400);
    expect(((await wide.json()) as LooseJson).error).toBe('invalid_scope');

    const introspect = async (token: string) =>
      (await (await o.post('/oauth/introspect', client, { token })).json()) as LooseJson;
    expect(await introspect(narrowed.access_token)).toMatchObject({
      active: true,
      client_id: client.client_id,
      scope: 'packages:read',
    });
    expect((await introspect(narrowed.refresh_token)).active).toBe(true);

    // The very first refresh token again, long rotated out: reuse → the family is revoked.
    const reuse = await o.post('/oauth/token', client, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    expect(reuse.status).toBe(400);
    expect(((await reuse.json()) as LooseJson).error).toBe('invalid_grant');
    expect((await introspect(narrowed.access_token)).active).toBe(false);
    expect((await introspect(narrowed.refresh_token)).active).toBe(false);
    expect(
      (await t.request(`/t/${o.tenant.slug}/v1/packages`, { token: narrowed.access_token })).status,
    ).toBe(401);
  });

  it('uses a code once: a second exchange is invalid_grant and revokes the tokens of the first', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const flow = await o.codeFlow(client);
    expect(flow.res.status).toBe(200);
    const replay = await o.exchangeCode(client, flow);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    const seen = (await (
      await o.post('/oauth/introspect', client, { token: flow.tokens.access_token })
    ).json()) as LooseJson;
    expect(seen).toEqual({ active: false });
    const refresh = await o.post('/oauth/token', client, {
      grant_type: 'refresh_token',
      refresh_token: flow.tokens.refresh_token,
    });
    expect(refresh.status).toBe(400);
  });

  it('refuses a wrong or missing PKCE verifier and a different redirect URI at the exchange', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const codeFor = async () => {
      const { verifier, challenge } = pkce();
      const back = await o.authorize({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      return { code: back.params.code ?? '', verifier };
    };
    const exchange = (fields: Record<string, string | undefined>) =>
      o.post('/oauth/token', client, { grant_type: 'authorization_code', redirect_uri: REDIRECT, ...fields });
    const a = await codeFor();
    const wrong = await exchange({ code: a.code, code_verifier: pkce().verifier });
    expect(await wrong.json()).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/code_verifier/),
    });
    // The failed attempt used the code up: the right verifier no longer helps.
    expect((await exchange({ code: a.code, code_verifier: a.verifier })).status).toBe(400);
    const b = await codeFor();
    const missing = await exchange({ code: b.code });
    expect(await missing.json()).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/code_verifier is missing/),
    });
    const c = await codeFor();
    const otherUri = await exchange({
      code: c.code,
      code_verifier: c.verifier,
      redirect_uri: 'https://app.example.com/other',
    });
    expect(await otherUri.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('issues client-credentials tokens within the client’s scopes; the token acts as the client', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const res = await o.post('/oauth/token', client, {
      grant_type: 'client_credentials',
      scope: 'packages:read',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as LooseJson;
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'packages:read', expires_in: 600 });
    expect(body.refresh_token).toBeUndefined();
    const me = (await (
      await t.request(`/t/${o.tenant.slug}/v1/me`, { token: body.access_token })
    ).json()) as LooseJson;
    expect(me).toMatchObject({ user_id: client.client_id, permissions: ['packages:read'] });
    // Default scope: everything the client may have that needs no user.
    const all = (await (
      await o.post('/oauth/token', client, { grant_type: 'client_credentials' })
    ).json()) as LooseJson;
    expect(all.scope).toBe('packages:read tracker:read');
    const beyond = await o.post('/oauth/token', client, {
      grant_type: 'client_credentials',
      scope: 'users:manage',
    });
    expect(await beyond.json()).toMatchObject({ error: 'invalid_scope' });
    const openid = await o.post('/oauth/token', client, {
      grant_type: 'client_credentials',
      scope: 'openid',
    });
    expect(await openid.json()).toMatchObject({ error: 'invalid_scope' });
    // Revoked: introspection and the API refuse it.
    expect((await o.post('/oauth/revoke', client, { token: body.access_token })).status).toBe(200);
    expect(await (await o.post('/oauth/introspect', client, { token: body.access_token })).json()).toEqual({
      active: false,
    });
    expect((await t.request(`/t/${o.tenant.slug}/v1/packages`, { token: body.access_token })).status).toBe(
      401,
    );
  });

  it('refuses the refresh_token grant of a suspended tenant without using the token up; it works once reactivated', async () => {
    const o = await oauthFixture(t);
    const member = await t.user({ tenant: o.tenant.slug, role: 'member' });
    const client = await o.confidential();
    const { tokens } = await o.codeFlow(client, 'openid offline_access packages:read', {}, member);
    const refresh = () =>
      o.post('/oauth/token', client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    await t.fixtures.change(o.tenant.id, {
      type: 'SuspendTenant',
      reason: 'unpaid',
      at: new Date().toISOString(),
    });
    for (let i = 0; i < 2; i++) {
      const refused = await refresh();
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ type: '/problems/tenant-suspended' });
    }
    await t.fixtures.change(o.tenant.id, { type: 'ReactivateTenant', at: new Date().toISOString() });
    const again = await refresh();
    expect(again.status).toBe(200);
  });

  it('keeps tokens to their tenant: a token of tenant A is inactive and 401 at tenant B', async () => {
    const a = await oauthFixture(t);
    const b = await oauthFixture(t);
    const clientA = await a.confidential();
    const clientB = await b.confidential();
    const token = (
      (await (
        await a.post('/oauth/token', clientA, { grant_type: 'client_credentials' })
      ).json()) as LooseJson
    ).access_token;
    expect(await (await b.post('/oauth/introspect', clientB, { token })).json()).toEqual({ active: false });
    expect((await t.request(`/t/${b.tenant.slug}/v1/packages`, { token })).status).toBe(401);
    const info = await b.call('/oauth/userinfo', { headers: { authorization: `Bearer ${token}` } });
    expect(info.status).toBe(401);
    // A's client does not exist at B either.
    const cross = await b.post('/oauth/token', clientA, { grant_type: 'client_credentials' });
    expect(cross.status).toBe(401);
  });

  it('takes pushed authorization requests (PAR) once, and honours a client that requires them', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential({ require_par: true });
    const { challenge } = pkce();
    const pushed = await o.post('/oauth/par', client, {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid',
      state: 's1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    expect(pushed.status).toBe(201);
    const { request_uri, expires_in } = (await pushed.json()) as LooseJson;
    expect(request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(expires_in).toBe(60);
    const back = await o.authorize({ client_id: client.client_id, request_uri });
    expect(back.params).toMatchObject({ state: 's1', iss: o.issuer });
    expect(back.params.code).toBeTruthy();
    // Used up: the same request_uri again is an error page, never a redirect.
    const again = await o.call(o.authorizeUrl({ client_id: client.client_id, request_uri }));
    expect(again.status).toBe(400);
    expect(again.headers.get('location')).toBeNull();
    expect(await again.text()).toContain('invalid_request_uri');
    // Without PAR, this client is sent back with an error.
    const direct = await o.call(
      o.authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid',
        state: 'x',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(direct.status).toBe(302);
    const params = new URL(direct.headers.get('location') ?? '').searchParams;
    expect(params.get('error')).toBe('invalid_request');
    expect(params.get('state')).toBe('x');
    // Bad pushed parameters are a JSON error at the PAR endpoint.
    const bad = await o.post('/oauth/par', client, {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'plain',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('grants the password flow only to a client explicitly allowed it', async () => {
    const o = await oauthFixture(t);
    const plain = await o.confidential();
    const refused = await o.post('/oauth/token', plain, {
      grant_type: 'password',
      username: o.owner.email,
      password: o.owner.password,
    });
    expect(await refused.json()).toMatchObject({ error: 'unauthorized_client' });
    const legacy = await o.confidential({ grant_types: ['password', 'refresh_token'] });
    const ok = await o.post('/oauth/token', legacy, {
      grant_type: 'password',
      username: o.owner.email,
      password: o.owner.password,
      scope: 'openid packages:read',
    });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as LooseJson;
    expect(body.id_token).toBeTruthy();
    expect(body.refresh_token).toBeTruthy();
    const wrong = await o.post('/oauth/token', legacy, {
      grant_type: 'password',
      username: o.owner.email,
      password: 'nope',
    });
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('sends consent refusals and prompt=none back to the client; remembers consent until the user withdraws it', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const base = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid email',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      state: 'st',
    };
    const none = await o.call(o.authorizeUrl({ ...base, prompt: 'none' }));
    expect(new URL(none.headers.get('location') ?? '').searchParams.get('error')).toBe('login_required');
    const denied = await o.authorize(base, o.owner, 'deny');
    expect(denied.params).toMatchObject({ error: 'access_denied', state: 'st', iss: o.issuer });
    // Signed in now, but no consent: prompt=none says consent_required.
    const noConsent = await o.call(o.authorizeUrl({ ...base, prompt: 'none' }));
    expect(new URL(noConsent.headers.get('location') ?? '').searchParams.get('error')).toBe(
      'consent_required',
    );
    const allowed = await o.authorize(base);
    expect(allowed.pages).toEqual(['consent']);
    const remembered = await o.authorize({ ...base, prompt: 'none' });
    expect(remembered.params.code).toBeTruthy();

    // The list is a read model: it catches up with the consent event in a moment.
    await expect
      .poll(
        async () =>
          (
            (await (
              await t.request(`/t/${o.tenant.slug}/v1/oauth/consents`, { token: o.owner.token })
            ).json()) as LooseJson
          ).items,
        { timeout: 20_000 },
      )
      .toEqual([expect.objectContaining({ client_id: client.client_id, scopes: ['email', 'openid'] })]);
    const withdrawn = await t.request(`/t/${o.tenant.slug}/v1/oauth/consents/${client.client_id}`, {
      method: 'DELETE',
      token: o.owner.token,
    });
    expect(withdrawn.status).toBe(204);
    const asked = await o.call(o.authorizeUrl({ ...base, prompt: 'none' }));
    expect(new URL(asked.headers.get('location') ?? '').searchParams.get('error')).toBe('consent_required');
  });

  it('ends the sign-in session at end-session and goes back only to a registered post-logout URI', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential({ post_logout_redirect_uris: ['https://app.example.com/bye'] });
    const { tokens } = await o.codeFlow(client);
    const out = await o.call(
      `/oauth/end-session?id_token_hint=${tokens.id_token}&post_logout_redirect_uri=${encodeURIComponent('https://app.example.com/bye')}&state=z`,
    );
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe('https://app.example.com/bye?state=z');
    const base = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    };
    const after = await o.call(o.authorizeUrl({ ...base, prompt: 'none' }));
    expect(new URL(after.headers.get('location') ?? '').searchParams.get('error')).toBe('login_required');
    const open = await o.call(
      `/oauth/end-session?post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}&client_id=${client.client_id}`,
    );
    expect(open.status).toBe(400);
    expect(open.headers.get('location')).toBeNull();
  });

  it('ends the sign-in session when the password changes: prompt=none asks for a sign-in, and a code from the old sign-in is refused', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const { verifier, challenge } = pkce();
    const base = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };
    await o.authorize(base);
    // Signed in and consented: a silent request gets a code. It is held back until after the change.
    const held = await o.authorize({ ...base, prompt: 'none' });
    expect(held.params.code).toBeTruthy();

    const changed = await t.request(`/t/${o.tenant.slug}/v1/me/password`, {
      method: 'POST',
      token: o.owner.token,
      json: { current_password: o.owner.password, new_password: 'a-new-and-long-password-9' },
    });
    expect(changed.status).toBe(204);

    // Whoever holds the browser's cookie (the user, or whoever stole it) must sign in again.
    const silent = await o.call(o.authorizeUrl({ ...base, prompt: 'none' }));
    expect(new URL(silent.headers.get('location') ?? '').searchParams.get('error')).toBe('login_required');
    const exchanged = await o.post('/oauth/token', client, {
      grant_type: 'authorization_code',
      code: held.params.code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    expect(exchanged.status).toBe(400);
    expect(await exchanged.json()).toMatchObject({ error: 'invalid_grant' });

    // The old password no longer signs in; the new one does, and its session counts again.
    const again = await o.authorize(base, { email: o.owner.email, password: 'a-new-and-long-password-9' });
    expect(again.pages).toEqual(['login']);
    expect(again.params.code).toBeTruthy();
    expect((await o.authorize({ ...base, prompt: 'none' })).params.code).toBeTruthy();
  });

  it('records every client change, consent, code, token and revocation as events', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const flow = await o.codeFlow(client);
    await o.post('/oauth/revoke', client, { token: flow.tokens.refresh_token });
    await o.post('/oauth/token', client, { grant_type: 'client_credentials' });
    // This test's own rows (readAll's visibility bound lags behind other sessions on a shared server).
    const rows = await sql<{ type: string }>`
      select type from warden_events where metadata->>'tenantId' = ${o.tenant.id}`.execute(t.database.db);
    const types = rows.rows.map((r) => r.type);
    for (const type of [
      'OAuthClientRegistered',
      'OAuthUserSignedIn',
      'OAuthConsentGranted',
      'OAuthAuthorizationCodeIssued',
      'TokenFamilyIssued',
      'OAuthAuthorizationCodeRedeemed',
      'TokenFamilyRevoked',
      'OAuthAccessTokenIssued',
    ]) {
      expect(types, type).toContain(type);
    }
    const raw = JSON.stringify(
      await t.database.db
        .selectFrom('warden_events' as never)
        .selectAll()
        .execute(),
    );
    expect(raw).not.toContain(flow.tokens.access_token);
    expect(raw).not.toContain(flow.tokens.refresh_token);
    expect(raw).not.toContain(flow.code);
    expect(raw).not.toContain(client.client_secret);
  });
});
