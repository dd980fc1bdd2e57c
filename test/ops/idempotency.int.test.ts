import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauthFixture } from '../oauth/support.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

describe.each(databaseKinds)('Idempotency-Key replays ($name)', ({ fresh }) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(fresh);
  });
  afterAll(() => t?.dispose());

  const key = () => ({ 'idempotency-key': `key-${crypto.randomUUID()}` });
  const eventsOfStream = async (stream: string) => (await t.store.readStream(stream)).map((e) => e.type);

  it('refuses a replay (403) to the same caller once their role lacks the permission the request needed', async () => {
    const tenant = await t.tenant();
    const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
    const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    const headers = key();
    const body = {
      email: `added-${crypto.randomUUID().slice(0, 8)}@example.com`,
      password: `pw-${crypto.randomUUID()}`,
      name: 'Added Person',
      role: 'member',
    };
    const first = await t.request(`/t/${tenant.slug}/v1/users`, { token: admin.token, headers, json: body });
    expect(first.status, await first.clone().text()).toBe(201);

    // The owner demotes the admin, who signs in again as a member (no users:manage).
    const read = await t.request(`/t/${tenant.slug}/v1/users/${admin.userId}`, { token: owner.token });
    const demoted = await t.request(`/t/${tenant.slug}/v1/users/${admin.userId}`, {
      method: 'PATCH',
      token: owner.token,
      headers: { 'if-match': read.headers.get('etag') ?? '' },
      json: { role: 'member' },
    });
    expect(demoted.status, await demoted.clone().text()).toBe(200);
    const member = await t.login(tenant.slug, admin.email, admin.password);

    const replay = await t.request(`/t/${tenant.slug}/v1/users`, {
      token: member.access_token,
      headers,
      json: body,
    });
    const text = await replay.text();
    expect(replay.status, text).toBe(403);
    expect(replay.headers.get('idempotent-replayed')).toBeNull();
    expect(text).not.toContain(body.email);
  });

  it('refuses a replay (403) to the same person through a token whose scopes lack the permission', async () => {
    const o = await oauthFixture(t);
    const headers = key();
    const body = {
      email: `added-${crypto.randomUUID().slice(0, 8)}@example.com`,
      password: `pw-${crypto.randomUUID()}`,
      name: 'Added Person',
    };
    const first = await t.request(`/t/${o.tenant.slug}/v1/users`, {
      token: o.owner.token,
      headers,
      json: body,
    });
    expect(first.status).toBe(201);
    // The same owner, signed in to an application with read access to packages only.
    const { tokens } = await o.codeFlow(await o.confidential(), 'openid packages:read');
    const narrowed = await t.request(`/t/${o.tenant.slug}/v1/users`, {
      token: tokens.access_token,
      headers,
      json: body,
    });
    expect(narrowed.status, await narrowed.clone().text()).toBe(403);
    expect(await narrowed.text()).not.toContain(body.email);
  });

  it('still replays to a caller who holds the permission', async () => {
    const tenant = await t.tenant();
    const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    const headers = key();
    const body = {
      email: `added-${crypto.randomUUID().slice(0, 8)}@example.com`,
      password: `pw-${crypto.randomUUID()}`,
      name: 'Added Person',
    };
    const first = await t.request(`/t/${tenant.slug}/v1/users`, { token: admin.token, headers, json: body });
    const second = await t.request(`/t/${tenant.slug}/v1/users`, { token: admin.token, headers, json: body });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.text()).toBe(await first.text());
  });

  it('never stores a client secret: a replayed registration is 409 with the client’s Location, no secret, no second client', async () => {
    const tenant = await t.tenant();
    const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
    const headers = key();
    const body = { name: 'CI bot', grant_types: ['client_credentials'], scopes: ['packages:read'] };
    const first = await t.request(`/t/${tenant.slug}/v1/oauth/clients`, {
      token: owner.token,
      headers,
      json: body,
    });
    expect(first.status).toBe(201);
    const created = (await first.json()) as LooseJson;
    expect(created.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const replay = await t.request(`/t/${tenant.slug}/v1/oauth/clients`, {
      token: owner.token,
      headers,
      json: body,
    });
    const text = await replay.text();
    expect(replay.status, text).toBe(409);
    expect(text).not.toContain(created.client_secret);
    expect(replay.headers.get('location')).toBe(first.headers.get('location'));
    expect(((JSON.parse(text) as LooseJson).type as string).endsWith('idempotency-response-withheld')).toBe(
      true,
    );
    const rows = await t.database.db
      .selectFrom('warden_idempotency' as never)
      .select(['body' as never])
      .execute();
    expect(JSON.stringify(rows)).not.toContain(created.client_secret);
    expect(await eventsOfStream(`oauth.Client-${created.client_id}`)).toEqual(['OAuthClientRegistered']);

    // The rotated secret is never kept either, and the rotation is not done twice.
    const rotateKey = key();
    const rotated = await t.request(`/t/${tenant.slug}/v1/oauth/clients/${created.client_id}/secret`, {
      method: 'POST',
      token: owner.token,
      headers: rotateKey,
    });
    expect(rotated.status).toBe(200);
    const secret = ((await rotated.json()) as LooseJson).client_secret as string;
    const rotatedAgain = await t.request(`/t/${tenant.slug}/v1/oauth/clients/${created.client_id}/secret`, {
      method: 'POST',
      token: owner.token,
      headers: rotateKey,
    });
    const againText = await rotatedAgain.text();
    expect(rotatedAgain.status, againText).toBe(409);
    expect(againText).not.toContain(secret);
    expect(await eventsOfStream(`oauth.Client-${created.client_id}`)).toEqual([
      'OAuthClientRegistered',
      'OAuthClientSecretRotated',
    ]);
  });
});

describe.each(databaseKinds)('Idempotency-Key of anonymous callers ($name)', ({ fresh }) => {
  let t: TestApp;
  beforeAll(async () => {
    // One trusted proxy in front: X-Forwarded-For names each caller's address.
    t = await testApp(fresh, { env: { WARDEN_TRUSTED_PROXY_HOPS: '1' } });
  });
  afterAll(() => t?.dispose());

  it('keeps two strangers’ keys apart: the same key from another address is a request of its own, not a 422 or a replay', async () => {
    const tenant = await t.tenant();
    const key = `key-${crypto.randomUUID()}`;
    const forgot = (from: string, login: string) =>
      t.request('/v1/password/forgot', {
        tenant: tenant.slug,
        headers: { 'idempotency-key': key, 'x-forwarded-for': from },
        json: { login },
      });
    const first = await forgot('192.0.2.10', 'someone@example.com');
    expect(first.status).toBe(202);
    // The same caller repeating gets the stored answer.
    const repeat = await forgot('192.0.2.10', 'someone@example.com');
    expect(repeat.status).toBe(202);
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    // Another caller who happens on (or guesses) the key runs its own request, with its own body.
    const other = await forgot('198.51.100.7', 'someone-else@example.com');
    expect(other.status).toBe(202);
    expect(other.headers.get('idempotent-replayed')).toBeNull();
  });
});
