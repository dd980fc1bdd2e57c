import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { uniqueSlug } from './support.ts';

const password = 'copper-lagoon-71-thistle';
const body = (slug: string, email: string) => ({
  slug,
  name: 'Self Service',
  owner: { email, name: 'First Owner', password },
});
const email = () => `owner-${crypto.randomUUID().slice(0, 8)}@example.com`;

/** Retries while the new tenant is not yet resolvable (its read model follows the creation). */
async function once(send: () => Response | Promise<Response>, deadlineMs = 10_000): Promise<Response> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const res = await send();
    if (res.status !== 404 || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('self-service tenant sign-up', () => {
  let closed: TestApp;
  let open: TestApp;
  let flood: TestApp;
  let approval: TestApp;
  beforeAll(async () => {
    approval = await testApp(freshPGlite, { env: { WARDEN_TENANT_SIGNUP: 'approval' } });
    closed = await testApp(freshPGlite);
    open = await testApp(freshPGlite, { env: { WARDEN_TENANT_SIGNUP: 'open' } });
    flood = await testApp(freshPGlite, {
      env: { WARDEN_TENANT_SIGNUP: 'open', WARDEN_ANON_RATE_PER_MINUTE: '3' },
    });
  }, 180_000);
  afterAll(async () => {
    await Promise.all([closed?.dispose(), open?.dispose(), flood?.dispose(), approval?.dispose()]);
  });

  const tenantsCreated = async (t: TestApp) => (await t.store.readAll({ types: ['TenantCreated'] })).length;

  it('is closed by default: 403 whatever the body, nothing appended', async () => {
    const before = await tenantsCreated(closed);
    for (const sent of [body(uniqueSlug(), email()), { nonsense: true }]) {
      const res = await closed.request('/v1/signup', { json: sent });
      expect(res.status).toBe(403);
      expect(((await res.json()) as LooseJson).type).toMatch(/signup-closed$/);
    }
    expect(await tenantsCreated(closed)).toBe(before);
  });

  it('creates a free tenant and its owner, who signs in only after opening the mailed link', async () => {
    const slug = uniqueSlug('self');
    const address = email();
    const res = await open.request('/v1/signup', { json: body(slug, address) });
    expect(res.status, await res.clone().text()).toBe(202);
    const answer = (await res.json()) as LooseJson;
    expect(answer).toMatchObject({ tenant: { slug, plan: 'free' }, status: 'verification_sent' });
    const created = (await open.store.readAll({ types: ['TenantCreated'] })).find(
      (e) => (e.data as LooseJson).slug === slug,
    );
    expect(created).toBeDefined();
    expect((created?.data as LooseJson | undefined)?.plan).toBe('free');
    const owner = await open.registered(answer.tenant.id, address);

    const login = () => open.request('/v1/auth/login', { tenant: slug, json: { email: address, password } });
    const refused = await once(login);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as LooseJson).type).toMatch(/email-not-verified$/);

    await open.verifyEmail(slug, address);
    const signedIn = await login();
    expect(signedIn.status).toBe(200);
    const token = ((await signedIn.json()) as LooseJson).access_token as string;
    const me = (await (await open.request('/v1/me', { token, tenant: slug })).json()) as LooseJson;
    expect(me).toMatchObject({ user_id: owner.id, role: 'owner', tenant: { slug, plan: 'free' } });
  });

  it('refuses a taken slug (409, no second owner) and bad input (400 naming the field)', async () => {
    const slug = uniqueSlug('dup');
    expect((await open.request('/v1/signup', { json: body(slug, email()) })).status).toBe(202);
    const second = email();
    const again = await open.request('/v1/signup', { json: body(slug, second) });
    expect(again.status).toBe(409);
    const registrations = await open.store.readAll({ types: ['UserRegistered'] });
    expect(registrations.some((e) => (e.data as LooseJson).email === second)).toBe(false);

    const bad = await open.request('/v1/signup', {
      json: { slug: 'No Spaces!', name: 'x', owner: { email: 'not-an-email', name: 'O', password: 'short' } },
    });
    expect(bad.status).toBe(400);
    const paths = ((await bad.json()) as LooseJson).errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['slug', 'owner.email', 'owner.password']));
  });

  it('spends the anonymous rate budget: a flood from one client is 429 with Retry-After', async () => {
    // All at once: the budget (3 a minute) refills one request every 20 s, and a sign-up hashes a
    // password, so six in a row on a loaded machine can see a refill between them.
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        flood.request('/v1/signup', { json: body(uniqueSlug('flood'), email()) }),
      ),
    );
    const statuses = answers.map((res) => res.status).sort();
    const retryAfter = answers.find((res) => res.status === 429)?.headers.get('retry-after');
    expect(statuses).toEqual([202, 202, 202, 429, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('with approval: the tenant waits suspended (its owner signs in, nothing else) until the superadmin reactivates it', async () => {
    const slug = uniqueSlug('wait');
    const address = email();
    const res = await approval.request('/v1/signup', { json: body(slug, address) });
    expect(res.status, await res.clone().text()).toBe(202);
    const answer = (await res.json()) as LooseJson;
    expect(answer).toMatchObject({ tenant: { slug, plan: 'free' }, status: 'awaiting_approval' });
    const tenantId = answer.tenant.id as string;
    const stream = await approval.store.readAll({ types: ['TenantCreated', 'TenantSuspended'] });
    const own = stream.filter((e) => (e.data as LooseJson).tenantId === tenantId);
    // One append: there is no moment at which the sign-up is an active tenant.
    expect(own.map((e) => e.type)).toEqual(['TenantCreated', 'TenantSuspended']);
    expect(own[1]!.position - own[0]!.position).toBe(1n);

    // The link works while the tenant waits; the owner signs in and sees the suspension, nothing more.
    await approval.registered(tenantId, address);
    await approval.verifyEmail(slug, address);
    const login = await once(() =>
      approval.request('/v1/auth/login', { tenant: slug, json: { email: address, password } }),
    );
    expect(login.status, await login.clone().text()).toBe(200);
    const token = ((await login.json()) as LooseJson).access_token as string;
    const waiting = await approval.request('/v1/me', { token, tenant: slug });
    expect(waiting.status).toBe(403);
    expect(((await waiting.json()) as LooseJson).type).toMatch(/tenant-suspended$/);
    // Abuse: the owner cannot approve their own sign-up.
    const self = await approval.request(`/v1/tenants/${tenantId}/reactivate`, {
      method: 'POST',
      token,
      tenant: slug,
    });
    expect(self.status).toBe(403);

    const root = await approval.superadmin();
    const listed = await approval.request('/v1/tenants?status=suspended', { token: root.token });
    expect(((await listed.json()) as LooseJson).items.map((t: LooseJson) => t.slug)).toContain(slug);
    const approved = await approval.request(`/v1/tenants/${tenantId}/reactivate`, {
      method: 'POST',
      token: root.token,
    });
    expect(approved.status, await approved.clone().text()).toBe(200);
    // Tenant resolution reads the tenant's read model, which follows the reactivation.
    await expect
      .poll(async () => (await approval.request('/v1/me', { token, tenant: slug })).status, {
        timeout: 10_000,
      })
      .toBe(200);
    const me = (await (await approval.request('/v1/me', { token, tenant: slug })).json()) as LooseJson;
    expect(me.role).toBe('owner');
  });
});
