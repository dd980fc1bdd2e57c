import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { basic, form, oauthFixture, pkce, REDIRECT } from './support.ts';

/** Malformed requests get RFC 6749's error codes in the right format, never a 500, never an open redirect. */
describe('OAuth endpoints under bad input', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite, { env: { WARDEN_CORS_ORIGINS: 'https://spa.example.com' } });
  });
  afterAll(() => t?.dispose());

  it('answers the token endpoint’s malformed requests with §5.2 codes in JSON', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential({ grant_types: ['authorization_code', 'refresh_token'] });
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    const send = (init: RequestInit) => o.call('/oauth/token', init);
    const cases: [RequestInit, number, string][] = [
      [
        {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: '{"grant_type":"client_credentials"}',
        },
        400,
        'invalid_request',
      ],
      [
        { ...form({}), headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' } },
        400,
        'invalid_request',
      ],
      [
        {
          ...form({ grant_type: 'urn:made:up' }),
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        },
        400,
        'unsupported_grant_type',
      ],
      [
        {
          ...form({ grant_type: 'client_credentials' }),
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        },
        400,
        'unauthorized_client',
      ],
      [
        {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=refresh_token&grant_type=refresh_token',
        },
        400,
        'invalid_request',
      ],
      [
        {
          ...form({ grant_type: 'refresh_token' }),
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        },
        400,
        'invalid_request',
      ],
      [
        {
          ...form({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(43) }),
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        },
        400,
        'invalid_grant',
      ],
      [
        {
          ...form({
            grant_type: 'authorization_code',
            code: 'nope',
            code_verifier: pkce().verifier,
            redirect_uri: REDIRECT,
          }),
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        },
        400,
        'invalid_grant',
      ],
      [
        {
          ...form({ grant_type: 'client_credentials' }),
          headers: {
            authorization: basic(client.client_id, 'wrong'),
            'content-type': 'application/x-www-form-urlencoded',
          },
        },
        401,
        'invalid_client',
      ],
      [
        {
          ...form({ grant_type: 'client_credentials' }),
          headers: { authorization: 'Basic !!!', 'content-type': 'application/x-www-form-urlencoded' },
        },
        401,
        'invalid_client',
      ],
      [
        {
          ...form({ grant_type: 'client_credentials', client_id: 'not-a-uuid' }),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        401,
        'invalid_client',
      ],
      [
        {
          ...form({
            grant_type: 'client_credentials',
            client_id: client.client_id,
            client_secret: client.client_secret,
          }),
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        },
        400,
        'invalid_request',
      ],
      [
        {
          ...form({ grant_type: 'client_credentials' }),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        401,
        'invalid_client',
      ],
      [
        {
          ...form({ grant_type: 'client_credentials' }),
          headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded', dpop: 'garbage' },
        },
        400,
        'unauthorized_client',
      ],
    ];
    for (const [init, status, error] of cases) {
      const res = await send(init);
      const body = (await res.json()) as LooseJson;
      expect([res.status, body.error], String(init.body)).toEqual([status, error]);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(typeof body.error_description).toBe('string');
    }
    const big = await send({
      ...form({ grant_type: 'client_credentials', pad: 'x'.repeat(70_000) }),
      headers: auth,
    });
    expect(big.status).toBe(413);
  });

  it('never redirects to an unverified client or URI; every other error goes back with state and iss', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const { challenge } = pkce();
    const good = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid',
      state: 'abc',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };
    const page = async (params: Record<string, string | undefined>) => {
      const res = await o.call(o.authorizeUrl(params));
      expect(res.headers.get('location'), JSON.stringify(params)).toBeNull();
      expect(res.status, JSON.stringify(params)).toBe(400);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      return res.text();
    };
    expect(await page({ ...good, client_id: crypto.randomUUID() })).toContain('invalid_client');
    expect(await page({ ...good, client_id: undefined })).toContain('invalid_request');
    expect(await page({ ...good, redirect_uri: 'https://evil.example/cb' })).toContain('redirect_uri');
    expect(await page({ ...good, redirect_uri: `${REDIRECT}/` })).toContain('redirect_uri');
    expect(await page({ ...good, redirect_uri: undefined })).toContain('redirect_uri');
    const repeated = await o.call(`${o.authorizeUrl(good)}&scope=openid`);
    expect([repeated.status, repeated.headers.get('location')]).toEqual([400, null]);

    const back = async (params: Record<string, string | undefined>) => {
      const res = await o.call(o.authorizeUrl(params));
      expect(res.status, JSON.stringify(params)).toBe(302);
      const url = new URL(res.headers.get('location') ?? '');
      expect(`${url.origin}${url.pathname}`).toBe(REDIRECT);
      expect(url.searchParams.get('state')).toBe('abc');
      expect(url.searchParams.get('iss')).toBe(o.issuer);
      return url.searchParams.get('error');
    };
    expect(await back({ ...good, response_type: 'token' })).toBe('unsupported_response_type');
    expect(await back({ ...good, response_type: undefined })).toBe('unsupported_response_type');
    expect(await back({ ...good, code_challenge: undefined })).toBe('invalid_request');
    expect(await back({ ...good, code_challenge_method: 'plain' })).toBe('invalid_request');
    expect(await back({ ...good, code_challenge_method: undefined })).toBe('invalid_request');
    expect(await back({ ...good, code_challenge: 'short' })).toBe('invalid_request');
    expect(await back({ ...good, scope: 'openid users:manage' })).toBe('invalid_scope');
    expect(await back({ ...good, scope: 'openid made-up' })).toBe('invalid_scope');
    expect(await back({ ...good, scope: undefined })).toBe('invalid_request');
    expect(await back({ ...good, prompt: 'none login' })).toBe('invalid_request');
    expect(await back({ ...good, max_age: '-1' })).toBe('invalid_request');
    expect(await back({ ...good, response_mode: 'fragment' })).toBe('invalid_request');
    expect(await back({ ...good, request: 'eyJ...' })).toBe('request_not_supported');
    const ccOnly = await o.confidential({ grant_types: ['client_credentials'], redirect_uris: [REDIRECT] });
    expect(await back({ ...good, client_id: ccOnly.client_id })).toBe('unauthorized_client');
  });

  it('keeps the sign-in page on a wrong password and refuses a forged or stale form', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const res = await o.call(
      o.authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
    const action = `http://localhost/t/${o.tenant.slug}/oauth/authorize/login`;
    const wrong = await o.call(
      action,
      form({
        interaction: field('interaction'),
        csrf: field('csrf'),
        email: o.owner.email,
        password: 'wrong',
      }),
    );
    expect(wrong.status).toBe(200);
    expect(await wrong.text()).toContain('Wrong email or password.');
    const forged = await o.call(
      action,
      form({
        interaction: field('interaction'),
        csrf: 'forged',
        email: o.owner.email,
        password: o.owner.password,
      }),
    );
    expect(forged.status).toBe(400);
    expect(forged.headers.get('location')).toBeNull();
    // Another browser (no CSRF cookie) cannot submit this page either.
    const elsewhere = await t.request(
      action,
      form({
        interaction: field('interaction'),
        csrf: field('csrf'),
        email: o.owner.email,
        password: o.owner.password,
      }),
    );
    expect(elsewhere.status).toBe(400);
    const ok = await o.call(
      action,
      form({
        interaction: field('interaction'),
        csrf: field('csrf'),
        email: o.owner.email,
        password: o.owner.password,
      }),
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('id="allow"');
    const twice = await o.call(
      action,
      form({
        interaction: field('interaction'),
        csrf: field('csrf'),
        email: o.owner.email,
        password: o.owner.password,
      }),
    );
    expect(twice.status).toBe(400);
  });

  it('limits the token endpoint per client and per address with 429 and Retry-After', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential({ grant_types: ['client_credentials'] });
    const limited = t.variant({ config: { ...t.config, WARDEN_OAUTH_TOKEN_RATE_PER_CLIENT: 3 } });
    const ask = () =>
      limited(`${o.issuer}/oauth/token`, {
        ...form({ grant_type: 'client_credentials' }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(client.client_id, client.client_secret),
        },
      });
    // The budget counts in fixed windows of a wall-clock minute: asks that straddled a minute's end
    // would meet two budgets (the CI of baf193c saw a fourth 200). Start well inside a minute.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 100));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await ask()).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const refused = await ask();
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(await refused.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });

  it('serves CORS on the token endpoint for configured origins, never on the authorization endpoint', async () => {
    const o = await oauthFixture(t);
    const preflight = (path: string) =>
      o.call(path, {
        method: 'OPTIONS',
        headers: { origin: 'https://spa.example.com', 'access-control-request-method': 'POST' },
      });
    expect((await preflight('/oauth/token')).headers.get('access-control-allow-origin')).toBe(
      'https://spa.example.com',
    );
    expect((await preflight('/oauth/authorize')).headers.get('access-control-allow-origin')).toBeNull();
    const get = await o.call('/oauth/authorize', { headers: { origin: 'https://spa.example.com' } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers revocation and introspection without credentials as invalid_client, and with no token as invalid_request', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    for (const path of ['/oauth/revoke', '/oauth/introspect', '/oauth/par']) {
      const anonymous = await o.call(path, form({ token: 'x' }));
      expect([anonymous.status, ((await anonymous.json()) as LooseJson).error], path).toEqual([
        401,
        'invalid_client',
      ]);
    }
    for (const path of ['/oauth/revoke', '/oauth/introspect']) {
      const empty = await o.post(path, client, {});
      expect([empty.status, ((await empty.json()) as LooseJson).error], path).toEqual([
        400,
        'invalid_request',
      ]);
    }
    expect((await o.post('/oauth/revoke', client, { token: 'unknown' })).status).toBe(200);
    const info = await o.call('/oauth/userinfo');
    expect(info.status).toBe(401);
    expect(info.headers.get('www-authenticate')).toBe('Bearer');
    const cc = (await (
      await o.post(
        '/oauth/token',
        { ...(await o.confidential({ grant_types: ['client_credentials'], scopes: ['packages:read'] })) },
        { grant_type: 'client_credentials' },
      )
    ).json()) as LooseJson;
    const noUser = await o.call('/oauth/userinfo', {
      headers: { authorization: `Bearer ${cc.access_token}` },
    });
    expect(noUser.status).toBe(403);
    expect(noUser.headers.get('www-authenticate')).toContain('insufficient_scope');
  });
});
