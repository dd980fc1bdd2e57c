import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { oauthFixture, pkce, REDIRECT } from './support.ts';

describe('OAuth attacks', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(() => t?.dispose());

  it('a code replayed while its first exchange is still running revokes what that exchange issues', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential();
    for (let round = 0; round < 5; round++) {
      const { verifier, challenge } = pkce();
      const back = await o.authorize({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid packages:read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const exchange = () =>
        o.post('/oauth/token', client, {
          grant_type: 'authorization_code',
          code: back.params.code,
          redirect_uri: REDIRECT,
          code_verifier: verifier,
        });
      const answers = await Promise.all([exchange(), exchange()]);
      // However the two interleave, at most one gets tokens, and the replay revokes them.
      expect(answers.filter((r) => r.status === 400)).not.toHaveLength(0);
      for (const answer of answers.filter((r) => r.status === 200)) {
        const tokens = (await answer.json()) as LooseJson;
        const refresh = await o.post('/oauth/token', client, {
          grant_type: 'refresh_token',
          refresh_token: tokens.refresh_token,
        });
        expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });
        const seen = await o.post('/oauth/introspect', client, { token: tokens.access_token });
        expect(await seen.json()).toEqual({ active: false });
      }
    }
  });

  it('a client token shows the user’s email and name only with the scopes that name them, and cannot manage the user’s consents', async () => {
    const o = await oauthFixture(t);
    const other = await o.confidential({ name: 'Other app' });
    const otherFlow = await o.codeFlow(other, 'openid email');
    expect(otherFlow.res.status).toBe(200);
    // The user allows this client `openid` alone: neither email nor profile.
    const client = await o.confidential({ name: 'Nosy app' });
    const flow = await o.codeFlow(client, 'openid');
    expect(flow.res.status).toBe(200);
    const token = flow.tokens.access_token as string;
    const me = await t.request(`/t/${o.tenant.slug}/v1/me`, { token });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({
      user_id: o.owner.userId,
      email: null,
      name: null,
      username: null,
    });
    // Nor does the client learn which other applications the user allowed, or withdraw them.
    const list = await t.request(`/t/${o.tenant.slug}/v1/oauth/consents`, { token });
    expect(list.status).toBe(403);
    const withdraw = await t.request(`/t/${o.tenant.slug}/v1/oauth/consents/${other.client_id}`, {
      method: 'DELETE',
      token,
    });
    expect(withdraw.status).toBe(403);
    const refresh = await o.post('/oauth/token', other, {
      grant_type: 'refresh_token',
      refresh_token: otherFlow.tokens.refresh_token,
    });
    expect(refresh.status).toBe(200);
    // The user's own sign-in still sees and manages them (the list read once it has every consent:
    // it is a read model, and the requests above may go before its projection's page).
    const own = await t.request(`/t/${o.tenant.slug}/v1/oauth/consents`, {
      token: o.owner.token,
      headers: { 'x-min-position': (await t.store.headPosition()).toString() },
    });
    expect(((await own.json()) as LooseJson).items).toHaveLength(2);
    const mine = await t.request(`/t/${o.tenant.slug}/v1/me`, { token: o.owner.token });
    expect(await mine.json()).toMatchObject({ email: o.owner.email });
  });

  it('a client token neither renames its user nor mints an npm token that would outlive the grant', async () => {
    const o = await oauthFixture(t);
    const client = await o.confidential({ name: 'Build bot' });
    const flow = await o.codeFlow(client, 'openid packages:read');
    expect(flow.res.status).toBe(200);
    const token = flow.tokens.access_token as string;
    // The grant reads packages…
    expect((await t.request(`/t/${o.tenant.slug}/v1/packages`, { token })).status).toBe(200);
    // …but a bearer secret of its own, which no revocation of the grant would end, it does not get.
    const minted = await t.request(`/t/${o.tenant.slug}/v1/npm-tokens`, { token, json: { name: 'bot' } });
    expect(minted.status).toBe(403);
    expect(((await minted.json()) as LooseJson).detail).toContain('Warden sign-in');
    const renamed = await t.request(`/t/${o.tenant.slug}/v1/me`, {
      method: 'PATCH',
      token,
      json: { username: 'taken-by-the-app' },
    });
    expect(renamed.status).toBe(403);
    // The user's own sign-in does both.
    const own = await t.request(`/t/${o.tenant.slug}/v1/npm-tokens`, {
      token: o.owner.token,
      json: { name: 'ci' },
    });
    expect(own.status).toBe(201);
    const named = await t.request(`/t/${o.tenant.slug}/v1/me`, {
      method: 'PATCH',
      token: o.owner.token,
      json: { username: 'the-owner' },
    });
    expect(named.status).toBe(200);
  });

  it('an admin cannot make a client skip consent, so no client of theirs takes an owner’s token unasked', async () => {
    const o = await oauthFixture(t);
    const admin = await t.user({ tenant: o.tenant.slug, role: 'admin' });
    const other = await t.user({ tenant: o.tenant.slug, role: 'owner' });
    const demote = (token: string) =>
      t.request(`/t/${o.tenant.slug}/v1/users/${other.userId}`, {
        method: 'PATCH',
        token,
        json: { role: 'member' },
      });
    // The admin alone may not touch an owner.
    expect((await demote(admin.token)).status).toBe(403);
    const settings = {
      name: 'Admin tool',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'],
      scopes: ['openid', 'users:manage'],
      skip_consent: true,
    };
    const register = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: admin.token,
      json: settings,
    });
    expect(register.status).toBe(403);
    expect(await register.json()).toMatchObject({ errors: [{ path: 'skip_consent' }] });
    // Nor may the admin turn it on later, nor point an owner's first-party client elsewhere.
    const tool = await o.registerClient({ ...settings, skip_consent: false }, admin);
    const patch = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${tool.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { skip_consent: true },
    });
    expect(patch.status).toBe(403);
    const firstParty = await o.registerClient({ ...settings, name: 'Console' });
    const moved = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${firstParty.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { redirect_uris: ['https://admin.example.com/cb'] },
    });
    expect(moved.status).toBe(403);
    // The owner who opens the admin's link is asked first; denied, the admin gets nothing.
    const { challenge } = pkce();
    const back = await o.authorize(
      {
        response_type: 'code',
        client_id: tool.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid users:manage',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      },
      o.owner,
      'deny',
    );
    expect(back.pages).toContain('consent');
    expect(back.params.error).toBe('access_denied');
    expect((await demote(admin.token)).status).toBe(403);
  });

  it('asks again after the client gains a redirect URI: whoever manages it cannot collect codes on an old consent', async () => {
    const o = await oauthFixture(t);
    const admin = await t.user({ tenant: o.tenant.slug, role: 'admin' });
    const app = await o.registerClient(
      {
        name: 'Wiki',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code'],
        scopes: ['openid', 'packages:read'],
      },
      admin,
    );
    const ask = (redirect: string) => {
      const { challenge } = pkce();
      return o.authorize(
        {
          response_type: 'code',
          client_id: app.client_id,
          redirect_uri: redirect,
          scope: 'openid packages:read',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        },
        o.owner,
      );
    };
    // The owner allows it once; the next time no page is shown (consent remembered).
    expect((await ask(REDIRECT)).pages).toContain('consent');
    const again = await ask(REDIRECT);
    expect(again.pages).not.toContain('consent');
    expect(again.params.code).toBeTruthy();

    // The admin adds a redirect URI of their own: the owner's link to it shows the consent page.
    const collector = 'https://admin.example.com/cb';
    const patch = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${app.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { redirect_uris: [REDIRECT, collector] },
    });
    expect(patch.status).toBe(200);
    const lured = await ask(collector);
    expect(lured.pages).toContain('consent');
    // Allowed anew, it is remembered again; taking a redirect URI away asks nothing more.
    expect((await ask(REDIRECT)).pages).not.toContain('consent');
    const narrowed = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${app.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { redirect_uris: [REDIRECT] },
    });
    expect(narrowed.status).toBe(200);
    expect((await ask(REDIRECT)).pages).not.toContain('consent');
  });

  it('a client introspects only the tokens issued to it, unless it is registered to introspect the tenant’s', async () => {
    const o = await oauthFixture(t);
    const member = await t.user({ tenant: o.tenant.slug, role: 'member' });
    const app = await o.confidential({ name: 'App A' });
    const flow = await o.codeFlow(app, 'openid offline_access packages:read', {}, member);
    expect(flow.res.status).toBe(200);
    const machine = (await (
      await o.post('/oauth/token', app, { grant_type: 'client_credentials' })
    ).json()) as LooseJson;
    const tokens = [flow.tokens.access_token, flow.tokens.refresh_token, machine.access_token] as string[];
    const introspect = async (client: LooseJson, token: string, via = o) =>
      (await (await via.post('/oauth/introspect', client, { token })).json()) as LooseJson;

    // The client the tokens were issued to sees them.
    expect(await introspect(app, tokens[0]!)).toMatchObject({ active: true, client_id: app.client_id });
    expect(await introspect(app, tokens[1]!)).toMatchObject({
      active: true,
      client_id: app.client_id,
      sub: member.userId,
      token_type: 'refresh_token',
    });
    expect(await introspect(app, tokens[2]!)).toMatchObject({ active: true, client_id: app.client_id });

    // Another application of the tenant learns nothing: the answer of an unknown token.
    const nosy = await o.confidential({ name: 'App B' });
    expect(nosy.introspection).toBe('own');
    const unknown = await introspect(nosy, 'not-a-token');
    expect(unknown).toEqual({ active: false });
    for (const token of tokens) expect(await introspect(nosy, token)).toEqual(unknown);

    // A resource server the tenant registers for it sees every token of the tenant.
    const api = await o.registerClient({
      name: 'Resource server',
      grant_types: ['client_credentials'],
      scopes: ['packages:read'],
      introspection: 'tenant',
    });
    expect(api.introspection).toBe('tenant');
    expect(await introspect(api, tokens[0]!)).toMatchObject({
      active: true,
      client_id: app.client_id,
      sub: member.userId,
    });
    expect(await introspect(api, tokens[1]!)).toMatchObject({ active: true, token_type: 'refresh_token' });
    expect(await introspect(api, tokens[2]!)).toMatchObject({ active: true, sub: app.client_id });

    // Only whoever manages clients turns it on; a public client cannot have it.
    const patch = (as: { token: string }, json: LooseJson) =>
      t.request(`/t/${o.tenant.slug}/v1/oauth/clients/${nosy.client_id}`, {
        method: 'PATCH',
        token: as.token,
        json,
      });
    expect((await patch(member, { introspection: 'tenant' })).status).toBe(403);
    expect(await introspect(nosy, tokens[0]!)).toEqual(unknown);
    const wrong = await patch(o.owner, { introspection: 'everyone' });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ errors: [{ path: 'introspection' }] });
    const turned = await patch(o.owner, { introspection: 'tenant' });
    expect(turned.status).toBe(200);
    expect(await introspect(nosy, tokens[0]!)).toMatchObject({ active: true, client_id: app.client_id });
    const spa = await t.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: o.owner.token,
      json: {
        name: 'SPA',
        type: 'public',
        redirect_uris: [REDIRECT],
        scopes: ['openid'],
        introspection: 'tenant',
      },
    });
    expect(spa.status).toBe(422);
    expect(await spa.json()).toMatchObject({ errors: [{ path: 'introspection' }] });

    // Another tenant's resource server sees nothing of this tenant's tokens.
    const elsewhere = await oauthFixture(t);
    const foreign = await elsewhere.registerClient({
      name: 'Resource server',
      grant_types: ['client_credentials'],
      scopes: ['packages:read'],
      introspection: 'tenant',
    });
    for (const token of tokens) expect(await introspect(foreign, token, elsewhere)).toEqual(unknown);
  });
});
