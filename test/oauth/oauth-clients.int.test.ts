import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenHash } from '../../src/oauth/dpop.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { basic, form, oauthFixture, pkce, REDIRECT } from './support.ts';

/** A DPoP key pair and a proof maker for it (RFC 9449 §4.2). */
async function dpopKey() {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return {
    jkt: await calculateJwkThumbprint(jwk),
    proof: (method: string, url: string, accessToken?: string) =>
      new SignJWT({ htm: method, htu: url, ...(accessToken ? { ath: accessTokenHash(accessToken) } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .sign(privateKey),
  };
}

describe.each(databaseKinds)('OAuth clients, client authentication and DPoP ($name)', ({ fresh }) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(fresh);
  });
  afterAll(() => t?.dispose());

  it('registers a client and shows its secret once; reads never show it', async () => {
    const o = await oauthFixture(t);
    const res = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: o.owner.token,
      json: { name: 'CI bot', grant_types: ['client_credentials'], scopes: ['packages:read'] },
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as LooseJson;
    expect(res.headers.get('location')).toBe(`/v1/oauth/clients/${created.client_id}`);
    expect(res.headers.get('etag')).toBe('"0"');
    expect(created.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({
      type: 'confidential',
      token_endpoint_auth_method: 'client_secret_basic',
      require_dpop: false,
    });
    const read = (await (
      await t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${created.client_id}`, { token: o.owner.token })
    ).json()) as LooseJson;
    expect(read.client_secret).toBeUndefined();
    expect(JSON.stringify(read)).not.toContain(created.client_secret);
    // Read your writes: the list waits for the read model to reach the create's position.
    const list = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: o.owner.token,
      headers: { 'x-min-position': res.headers.get('x-position') ?? '' },
    });
    expect(((await list.json()) as LooseJson).items.map((c: LooseJson) => c.client_id)).toContain(
      created.client_id,
    );
    const stored = JSON.stringify(
      (await t.store.readStream(`oauth.Client-${created.client_id}`)).map((e) => e.data),
    );
    expect(stored).not.toContain(created.client_secret);
  });

  it('refuses settings that do not fit, naming the field, and appends nothing', async () => {
    const o = await oauthFixture(t);
    const post = (json: LooseJson) =>
      t.request(`/t/${o.tenant.slug}/v1/oauth/clients`, { token: o.owner.token, json });
    const cases: [LooseJson, number, string][] = [
      [{ name: 'x', redirect_uris: ['http://app.example.com/cb'] }, 422, 'redirect_uris.0'],
      [{ name: 'x', redirect_uris: ['https://app.example.com/cb#frag'] }, 422, 'redirect_uris.0'],
      [{ name: 'x', redirect_uris: ['https://*.example.com/cb'] }, 422, 'redirect_uris.0'],
      [{ name: 'x', grant_types: ['authorization_code'] }, 422, 'redirect_uris'],
      [{ name: 'x', type: 'public', grant_types: ['client_credentials'] }, 422, 'grant_types'],
      [
        { name: 'x', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' },
        422,
        'jwks',
      ],
      [{ name: 'x', grant_types: ['client_credentials'], scopes: ['platform:manage'] }, 400, 'scopes.0'],
      [{ name: 'x', grant_types: ['implicit'] }, 400, 'grant_types.0'],
      [{ name: '', grant_types: ['client_credentials'] }, 400, 'name'],
      [{ name: 'x', grant_types: ['client_credentials'], surprise: true }, 400, 'surprise'],
      [
        {
          name: 'x',
          grant_types: ['client_credentials'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] },
        },
        400,
        'jwks.keys.0',
      ],
    ];
    // Rows of this test's own schema: readAll's visibility bound would lag behind other sessions here.
    const count = async () =>
      Number(
        (await sql<{ n: string }>`select count(*) as n from warden_events`.execute(t.database.db)).rows[0]?.n,
      );
    const before = await count();
    for (const [body, status, path] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await res.json()) as LooseJson;
      expect(
        problem.errors.map((e: LooseJson) => e.path),
        JSON.stringify(body),
      ).toContain(path);
    }
    expect(await count()).toBe(before);
    // Loopback http and private-use schemes are fine for native public clients.
    expect(
      (
        await post({
          name: 'cli',
          type: 'public',
          redirect_uris: ['http://127.0.0.1:8123/cb', 'com.example.app:/cb'],
        })
      ).status,
    ).toBe(201);
  });

  it('lets only clients:manage manage clients, and answers another tenant’s client with 404', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const path = `/t/${o.tenant.slug}/v1/oauth/clients`;
    for (const role of ['member', 'approver', 'operator'] as const) {
      const user = await t.user({ tenant: o.tenant.slug, role });
      expect((await t.request(path, { token: user.token })).status, role).toBe(403);
      expect(
        (
          await t.request(path, {
            token: user.token,
            json: { name: 'x', grant_types: ['client_credentials'] },
          })
        ).status,
        role,
      ).toBe(403);
    }
    const admin = await t.user({ tenant: o.tenant.slug, role: 'admin' });
    expect(
      (
        await t.request(path, {
          token: admin.token,
          json: { name: 'x', grant_types: ['client_credentials'] },
        })
      ).status,
    ).toBe(201);
    expect((await t.request(path)).status).toBe(401);
    const other = await oauthFixture(t);
    const foreign = `/t/${other.tenant.slug}/v1/oauth/clients/${client.client_id}`;
    expect((await t.request(foreign, { token: other.owner.token })).status).toBe(404);
    expect(
      (await t.request(foreign, { token: other.owner.token, method: 'PATCH', json: { name: 'mine' } }))
        .status,
    ).toBe(404);
    expect((await t.request(foreign, { token: other.owner.token, method: 'DELETE' })).status).toBe(404);
    expect((await t.request(`${foreign}/secret`, { token: other.owner.token, method: 'POST' })).status).toBe(
      404,
    );
  });

  it('guards changes with If-Match (412, nothing lost) and applies them at once in this process', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const path = `/t/${o.tenant.slug}/v1/oauth/clients/${client.client_id}`;
    const changed = await t.request(path, {
      token: o.owner.token,
      method: 'PATCH',
      json: { name: 'Renamed', scopes: ['openid'] },
      headers: { 'if-match': '"0"' },
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).toBe('"1"');
    const stale = await t.request(path, {
      token: o.owner.token,
      method: 'PATCH',
      json: { name: 'Lost' },
      headers: { 'if-match': '"0"' },
    });
    expect(stale.status).toBe(412);
    expect(((await (await t.request(path, { token: o.owner.token })).json()) as LooseJson).name).toBe(
      'Renamed',
    );
    const narrowed = await o.post('/oauth/token', client, {
      grant_type: 'client_credentials',
      scope: 'packages:read',
    });
    expect(await narrowed.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('rotates the secret: the old one stops at once, or after the overlap asked for', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const rotate = async (json?: LooseJson) =>
      (await (
        await t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${client.client_id}/secret`, {
          token: o.owner.token,
          method: 'POST',
          ...(json ? { json } : {}),
        })
      ).json()) as LooseJson;
    const cc = (secret: string) =>
      o.post(
        '/oauth/token',
        { client_id: client.client_id, client_secret: secret },
        { grant_type: 'client_credentials' },
      );
    // The client is read (and cached) before its secret changes: the cache must not keep the old one.
    expect((await cc(client.client_secret)).status).toBe(200);
    const second = await rotate();
    expect(second.client_secret).not.toBe(client.client_secret);
    const refused = await cc(client.client_secret);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' });
    expect((await cc(second.client_secret)).status).toBe(200);
    const third = await rotate({ keep_previous_for_seconds: 3600 });
    expect((await cc(second.client_secret)).status).toBe(200);
    expect((await cc(third.client_secret)).status).toBe(200);
    expect((await cc(client.client_secret)).status).toBe(401);
  });

  it('deletes a client: its grants are revoked and its tokens stop working', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    const { tokens } = await o.codeFlow(client);
    const cc = (await (
      await o.post('/oauth/token', client, { grant_type: 'client_credentials' })
    ).json()) as LooseJson;
    // A resource server of the tenant introspects: its answer comes from the signature, the in-memory
    // revocations and the (cached) client, so the deletion must reach it at once in this process.
    const other = await o.confidential({ introspection: 'tenant' });
    const introspected = async (token: unknown) =>
      (await (await o.post('/oauth/introspect', other, { token: String(token) })).json()) as LooseJson;
    expect(await introspected(cc.access_token)).toMatchObject({ active: true, client_id: client.client_id });
    const del = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${client.client_id}`, {
      token: o.owner.token,
      method: 'DELETE',
    });
    expect(del.status).toBe(204);
    for (const token of [tokens.access_token, cc.access_token]) {
      expect((await t.request(`/t/${o.tenant.slug}/v1/packages`, { token })).status).toBe(401);
    }
    for (const token of [tokens.access_token, cc.access_token]) {
      expect(await introspected(token)).toEqual({ active: false });
    }
    expect((await o.post('/oauth/token', client, { grant_type: 'client_credentials' })).status).toBe(401);
    const authorize = await o.call(
      o.authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      }),
    );
    expect(authorize.status).toBe(400);
    expect(authorize.headers.get('location')).toBeNull();
  });

  it('authenticates private_key_jwt clients: a fresh assertion once, for this issuer', async () => {
    const o = await oauthFixture(t);
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const client = await o.registerClient({
      name: 'Backend',
      grant_types: ['client_credentials'],
      scopes: ['packages:read'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
    });
    expect(client.client_secret).toBeUndefined();
    const assertion = (audience: string, jti = crypto.randomUUID()) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(client.client_id)
        .setSubject(client.client_id)
        .setAudience(audience)
        .setJti(jti)
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(privateKey);
    const send = async (clientAssertion: string) =>
      o.call(
        '/oauth/token',
        form({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: clientAssertion,
        }),
      );
    const once = await assertion(o.issuer);
    expect((await send(once)).status).toBe(200);
    const replayed = await send(once);
    expect(replayed.status).toBe(401);
    expect(await replayed.json()).toMatchObject({ error: 'invalid_client' });
    expect((await send(await assertion(`${o.issuer}/oauth/token`))).status).toBe(200);
    expect((await send(await assertion('https://elsewhere.example/'))).status).toBe(401);
    // A secret is not accepted from a private_key_jwt client.
    expect(
      (
        await o.post(
          '/oauth/token',
          { client_id: client.client_id, client_secret: 'x' },
          { grant_type: 'client_credentials' },
        )
      ).status,
    ).toBe(401);
  });

  it('binds a public client’s tokens to its DPoP key: code, access token, refresh token', async () => {
    const o = await oauthFixture(t);
    const client = await o.registerClient({
      name: 'SPA',
      type: 'public',
      redirect_uris: [REDIRECT],
      scopes: ['openid', 'packages:read'],
    });
    expect(client).toMatchObject({ require_dpop: true, token_endpoint_auth_method: 'none' });
    const key = await dpopKey();
    const { verifier, challenge } = pkce();
    const back = await o.authorize({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid packages:read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      dpop_jkt: key.jkt,
    });
    const tokenUrl = `${o.issuer}/oauth/token`;
    const exchange = (headers: Record<string, string>, code = back.params.code ?? '') =>
      o.call('/oauth/token', {
        ...form({
          grant_type: 'authorization_code',
          client_id: client.client_id,
          code,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
        }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
    const noProof = await exchange({});
    expect(await noProof.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    // The code is not used up by a request that failed before reaching it; with the proof it works.
    const res = await exchange({ dpop: await key.proof('POST', tokenUrl) });
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as LooseJson;
    expect(tokens.token_type).toBe('DPoP');

    const api = `http://localhost/t/${o.tenant.slug}/v1/packages`;
    const call = (headers: Record<string, string>) => t.request(api, { headers });
    expect((await call({ authorization: `Bearer ${tokens.access_token}` })).status).toBe(401);
    expect((await call({ authorization: `DPoP ${tokens.access_token}` })).status).toBe(401);
    const proof = await key.proof('GET', api, tokens.access_token);
    expect((await call({ authorization: `DPoP ${tokens.access_token}`, dpop: proof })).status).toBe(200);
    expect((await call({ authorization: `DPoP ${tokens.access_token}`, dpop: proof })).status).toBe(401);
    const stranger = await dpopKey();
    expect(
      (
        await call({
          authorization: `DPoP ${tokens.access_token}`,
          dpop: await stranger.proof('GET', api, tokens.access_token),
        })
      ).status,
    ).toBe(401);

    const refresh = (headers: Record<string, string>) =>
      o.call('/oauth/token', {
        ...form({
          grant_type: 'refresh_token',
          client_id: client.client_id,
          refresh_token: tokens.refresh_token,
        }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
    const otherKey = await refresh({ dpop: await stranger.proof('POST', tokenUrl) });
    expect(await otherKey.json()).toMatchObject({ error: 'invalid_grant' });
    const rotated = await refresh({ dpop: await key.proof('POST', tokenUrl) });
    expect(rotated.status).toBe(200);
    expect(((await rotated.json()) as LooseJson).token_type).toBe('DPoP');
  });

  it('binds a code to dpop_jkt: another key cannot redeem it', async () => {
    const o = await oauthFixture(t);
    const client = await o.registerClient({
      name: 'SPA',
      type: 'public',
      redirect_uris: [REDIRECT],
      scopes: ['openid'],
    });
    const key = await dpopKey();
    const thief = await dpopKey();
    const { verifier, challenge } = pkce();
    const back = await o.authorize({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      dpop_jkt: key.jkt,
    });
    const res = await o.call('/oauth/token', {
      ...form({
        grant_type: 'authorization_code',
        client_id: client.client_id,
        code: back.params.code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        dpop: await thief.proof('POST', `${o.issuer}/oauth/token`),
      },
    });
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses introspection to public clients, and answers unknown tokens as inactive', async () => {
    const o = await oauthFixture(t);
    const pub = await o.registerClient({
      name: 'SPA',
      type: 'public',
      redirect_uris: [REDIRECT],
      scopes: ['openid'],
    });
    const res = await o.call('/oauth/introspect', form({ client_id: pub.client_id, token: 'abc' }));
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
    const client = await o.confidential();
    expect(await (await o.post('/oauth/introspect', client, { token: 'not-a-token' })).json()).toEqual({
      active: false,
    });
    expect(basic('a', 'b')).toBe('Basic YTpi');
  });
});
