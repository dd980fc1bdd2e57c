import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { upcasters } from '../../src/eventstore/upcasters.ts';
import { upcastingStore } from '../../src/eventstore/upcasting.ts';
import { aesKey, fromBase64url } from '../../src/identity/tokens/crypto.ts';
import { identityStack } from '../../src/identity-stack.ts';
import { personalDataStore } from '../../src/privacy/index.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { acrossProcesses } from '../support/visibility.ts';

type Problem = { status: number; errors?: { path: string }[] };

describe('usernames, sign-in by username, last_login_at and /v1/me', () => {
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

  const me = async (token: string, tenant: string) => {
    const res = await server.request('/v1/me', { token, tenant });
    expect(res.status).toBe(200);
    return (await res.json()) as LooseJson;
  };
  const setMine = (token: string, tenant: string, username: unknown) =>
    server.request('/v1/me', { method: 'PATCH', token, tenant, json: { username } });

  it('returns the caller’s email, name and username; the user sets a username and signs in with it in any case', async () => {
    const alice = await t.user({ role: 'member', name: 'Alice A' });
    expect(await me(alice.token, alice.tenantSlug)).toMatchObject({
      email: alice.email,
      name: 'Alice A',
      username: null,
    });
    const set = await setMine(alice.token, alice.tenantSlug, 'Alice.Dev');
    expect(set.status, await set.clone().text()).toBe(200);
    expect(await me(alice.token, alice.tenantSlug)).toMatchObject({ username: 'Alice.Dev' });
    const login = await server.request('/v1/auth/login', {
      tenant: alice.tenantSlug,
      json: { login: 'alice.DEV', password: alice.password },
    });
    expect(login.status, await login.clone().text()).toBe(200);
    // `email` still works, and `login` takes an email too.
    const byEmail = await server.request('/v1/auth/login', {
      tenant: alice.tenantSlug,
      json: { login: alice.email, password: alice.password },
    });
    expect(byEmail.status).toBe(200);
    const wrong = await server.request('/v1/auth/login', {
      tenant: alice.tenantSlug,
      json: { login: 'alice.dev', password: 'wrong-password' },
    });
    expect(wrong.status).toBe(401);
  });

  it('a username set in another process reaches /v1/me here by the sync (the caller is cached)', async () => {
    // Another process: its own database handle (its appends are announced to its own listeners only,
    // as across processes) and its own identity stack (its own caches).
    const handle = { ...t.database };
    const store = upcastingStore(personalDataStore(postgresEventStore(handle), t.personalData), upcasters);
    const identity = await identityStack({
      config: t.config,
      db: handle.db,
      store,
      keyEncryptionKey: await aesKey(fromBase64url(t.keyEncryptionKeyText)),
    });
    const other = t.variant({ store, identity });
    const carol = await t.user({ role: 'member' });
    expect((await me(carol.token, carol.tenantSlug)).username).toBeNull();
    const set = await other('/v1/me', {
      method: 'PATCH',
      token: carol.token,
      tenant: carol.tenantSlug,
      json: { username: 'Carol.Ops' },
    });
    expect(set.status, await set.clone().text()).toBe(200);
    await expect
      .poll(async () => (await me(carol.token, carol.tenantSlug)).username, acrossProcesses)
      .toBe('Carol.Ops');
  });

  it('keeps usernames unique per tenant without regard to case, under concurrency; another tenant may reuse one', async () => {
    const owner = await t.user({ role: 'owner' });
    const users = await Promise.all(Array.from({ length: 4 }, () => t.user({ tenant: owner.tenantSlug })));
    const answers = await Promise.all(
      users.map((u, i) => setMine(u.token, u.tenantSlug, i % 2 === 0 ? 'Racer' : 'racer')),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
    const elsewhere = await t.user({ role: 'member' });
    expect((await setMine(elsewhere.token, elsewhere.tenantSlug, 'racer')).status).toBe(200);
  });

  it('refuses a malformed username with a problem naming the field, and appends nothing', async () => {
    const bob = await t.user({ role: 'member' });
    for (const bad of ['ab', 'has space', '-dash', 'a@b.example', 'x'.repeat(40), 42]) {
      const res = await setMine(bob.token, bob.tenantSlug, bad);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(((await res.json()) as Problem).errors?.map((e) => e.path)).toContain('username');
    }
    expect((await me(bob.token, bob.tenantSlug)).username).toBeNull();
    const unauthenticated = await server.request('/v1/me', {
      method: 'PATCH',
      tenant: bob.tenantSlug,
      json: { username: 'bobby' },
    });
    expect(unauthenticated.status).toBe(401);
  });

  it('lets admins set usernames (a member may not: 403; another tenant’s user: 404) and lists username and last_login_at', async () => {
    const admin = await t.user({ role: 'admin' });
    const carol = await t.user({ tenant: admin.tenantSlug });
    const member = await t.user({ tenant: admin.tenantSlug });
    const stranger = await t.user({ role: 'admin' });
    const patch = (as: typeof admin, id: string, json: unknown) =>
      server.request(`/v1/users/${id}`, { method: 'PATCH', token: as.token, tenant: as.tenantSlug, json });
    expect((await patch(member, carol.userId, { username: 'carol' })).status).toBe(403);
    expect((await patch(stranger, carol.userId, { username: 'carol' })).status).toBe(404);
    const res = await patch(admin, carol.userId, { username: 'carol' });
    expect(res.status, await res.clone().text()).toBe(200);
    const list = await server.request('/v1/users?q=caro', {
      token: admin.token,
      tenant: admin.tenantSlug,
      headers: { 'x-min-position': res.headers.get('x-position')! },
    });
    const items = ((await list.json()) as { items: LooseJson[] }).items;
    expect(items.map((i) => i.username)).toEqual(['carol']);
    // Carol signed in once (t.user logs in over HTTP): the list shows when.
    expect(Date.parse(items[0]!.last_login_at)).toBeGreaterThan(Date.now() - 120_000);
  });

  it('releases the username when its user is removed: a new person may take it', async () => {
    const owner = await t.user({ role: 'owner' });
    const dave = await t.user({ tenant: owner.tenantSlug });
    expect((await setMine(dave.token, dave.tenantSlug, 'dave')).status).toBe(200);
    const next = await t.user({ tenant: owner.tenantSlug });
    expect((await setMine(next.token, next.tenantSlug, 'DAVE')).status).toBe(409);
    const removed = await server.request(`/v1/users/${dave.userId}`, {
      method: 'DELETE',
      token: owner.token,
      tenant: owner.tenantSlug,
    });
    expect(removed.status).toBe(204);
    expect((await setMine(next.token, next.tenantSlug, 'DAVE')).status).toBe(200);
  });

  it('registers with an optional username; a taken one is a 409 naming the rule', async () => {
    const owner = await t.user({ role: 'owner' });
    expect((await setMine(owner.token, owner.tenantSlug, 'boss')).status).toBe(200);
    const register = (username: string) =>
      server.request('/v1/auth/register', {
        tenant: owner.tenantSlug,
        json: {
          email: `${crypto.randomUUID()}@example.com`,
          password: 'correct horse battery staple 42',
          name: 'New',
          username,
        },
      });
    expect((await register('Boss')).status).toBe(409);
    expect((await register('newbie')).status).toBe(202);
  });
});
