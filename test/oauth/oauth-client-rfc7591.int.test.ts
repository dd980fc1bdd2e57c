import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LooseJson, TestApp } from '../support/app.ts';
import { testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { oauthFixture } from './support.ts';

type Problem = { status: number; errors: { path: string; message: string }[] };

describe('OAuth client metadata: RFC 7591 names beside today’s', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    server = await t.listening();
  });
  afterAll(async () => {
    await server.close();
    await t.dispose();
  });

  const register = (slug: string, token: string, json: unknown) =>
    server.request(`/t/${slug}/v1/oauth/clients`, { token, json });

  it('registers a client named in RFC 7591 terms and answers in both', async () => {
    const o = await oauthFixture(t);
    const res = await register(o.tenant.slug, o.owner.token, {
      client_name: 'Build bot',
      scope: 'packages:read  openid',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      redirect_uris: ['https://app.example.com/cb'],
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const created = (await res.json()) as LooseJson;
    expect(created).toMatchObject({
      name: 'Build bot',
      client_name: 'Build bot',
      scopes: ['packages:read', 'openid'],
      scope: 'packages:read openid',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    });
    // Today's names still work, and a change through the aliases reads back under both.
    const patched = await server.request(`/t/${o.tenant.slug}/v1/oauth/clients/${created.client_id}`, {
      method: 'PATCH',
      token: o.owner.token,
      json: { client_name: 'Renamed', scope: 'openid' },
    });
    expect(patched.status, await patched.clone().text()).toBe(200);
    expect(await patched.json()).toMatchObject({ name: 'Renamed', scopes: ['openid'], scope: 'openid' });
  });

  it('answers response_types [] for a client without the authorization_code grant', async () => {
    const o = await oauthFixture(t);
    const res = await register(o.tenant.slug, o.owner.token, {
      name: 'CI',
      grant_types: ['client_credentials'],
      scopes: ['packages:read'],
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as LooseJson).response_types).toEqual([]);
  });

  const refused = async (res: Response, path: string) => {
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as Problem;
    expect(problem.errors.map((e) => e.path)).toContain(path);
  };

  it('refuses a field given under both names, a scope that is not a string, and response_types that contradict the grants; nothing is registered', async () => {
    const o = await oauthFixture(t);
    const slug = o.tenant.slug;
    await refused(await register(slug, o.owner.token, { name: 'a', client_name: 'b' }), 'client_name');
    await refused(await register(slug, o.owner.token, { name: 'a', scope: ['openid'] }), 'scope');
    await refused(
      await register(slug, o.owner.token, { name: 'a', scopes: ['openid'], scope: 'openid' }),
      'scope',
    );
    await refused(await register(slug, o.owner.token, { scope: 'openid' }), 'name');
    await refused(
      await register(slug, o.owner.token, {
        name: 'a',
        grant_types: ['client_credentials'],
        response_types: ['code'],
      }),
      'response_types',
    );
    await refused(
      await register(slug, o.owner.token, { name: 'a', response_types: ['token'] }),
      'response_types.0',
    );
    await refused(await register(slug, o.owner.token, { name: 'a', response_types: [] }), 'response_types');
    const list = await server.request(`/t/${slug}/v1/oauth/clients`, { token: o.owner.token });
    expect(((await list.json()) as LooseJson).items).toEqual([]);
  });

  it('checks response_types of a change against the grants the client has', async () => {
    const o = await oauthFixture(t);
    const created = (await (
      await register(o.tenant.slug, o.owner.token, {
        name: 'CI',
        grant_types: ['client_credentials'],
        scopes: ['packages:read'],
      })
    ).json()) as LooseJson;
    const url = `/t/${o.tenant.slug}/v1/oauth/clients/${created.client_id}`;
    await refused(
      await server.request(url, {
        method: 'PATCH',
        token: o.owner.token,
        json: { response_types: ['code'] },
      }),
      'response_types',
    );
    const read = (await (await server.request(url, { token: o.owner.token })).json()) as LooseJson;
    expect(read.revision).toBe(created.revision);
  });

  it('keeps the route to clients:manage and to the tenant: a member is 403, another tenant’s owner 404', async () => {
    const o = await oauthFixture(t);
    const member = await t.user({ tenant: o.tenant.slug, role: 'member' });
    const denied = await register(o.tenant.slug, member.token, { client_name: 'x', scope: 'openid' });
    expect(denied.status).toBe(403);
    const made = await register(o.tenant.slug, o.owner.token, {
      client_name: 'x',
      scope: 'openid',
      redirect_uris: ['https://app.example.com/cb'],
    });
    expect(made.status).toBe(201);
    const created = (await made.json()) as LooseJson;
    const stranger = await oauthFixture(t);
    const res = await server.request(`/t/${stranger.tenant.slug}/v1/oauth/clients/${created.client_id}`, {
      method: 'PATCH',
      token: stranger.owner.token,
      json: { client_name: 'stolen' },
    });
    expect(res.status, await res.clone().text()).toBe(404);
  });
});
