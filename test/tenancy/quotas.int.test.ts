import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten, readAllWritten } from '../support/visibility.ts';
import { execute, toolTenant } from '../tools/support.ts';

const lockfile = (name: string) => ({
  lockfileVersion: 3,
  packages: { '': { name: 'app', version: '1.0.0' }, [`node_modules/${name}`]: { version: '1.0.0' } },
});

/** The first instant of the month after now, UTC: when a monthly count renews. */
const nextMonth = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString();
};

for (const kind of databaseKinds) {
  describe(`quotas that hold: overrides, package requests per month, stats (${kind.name})`, () => {
    let t: TestApp;
    let root: SignedInUser;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      root = await t.superadmin();
    });
    afterAll(() => t?.dispose());

    const call = async (
      user: SignedInUser,
      path: string,
      init: { json?: unknown; method?: string; tenant?: string } = {},
    ) => {
      const res = await t.request(path, {
        token: user.token,
        tenant: init.tenant ?? user.tenantSlug,
        ...init,
      });
      const text = await res.text();
      return {
        status: res.status,
        headers: res.headers,
        type: res.headers.get('content-type'),
        body: (text ? JSON.parse(text) : {}) as LooseJson,
      };
    };
    /** The superadmin sets a tenant's limits (acting in that tenant, as for suspension). */
    const setLimits = async (tenant: { id: string; slug: string }, limits: LooseJson) => {
      const res = await call(root, `/v1/tenants/${tenant.id}/limits`, {
        method: 'PUT',
        json: limits,
        tenant: tenant.slug,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      // Tenant resolution reads the tenant list: wait until it has the change.
      expect(await t.engine.waitFor(['tenantList'], BigInt(res.body.position), 10_000)).toBe(true);
      return res.body;
    };
    const countOf = async (type: string, tenantId: string) =>
      (await readAllWritten(t.store, t.database.db, { types: [type] })).filter(
        (e) => (e.data as { tenantId?: string }).tenantId === tenantId,
      ).length;

    it('holds package requests per month under concurrency: exactly the limit pass, the rest are 429 naming quota, limit and reset', async () => {
      const tenant = await t.tenant(undefined, 'enterprise');
      const member = await t.user({ tenant: tenant.slug, role: 'member' });
      const written = await setLimits(tenant, { package_requests_per_month: 3 });
      expect(written).toMatchObject({
        plan: 'enterprise',
        overrides: { package_requests_per_month: 3 },
        limits: { package_requests_per_month: 3, max_users: null },
      });
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          call(member, '/v1/package-requests', { json: lockfile(`p${i}`) }),
        ),
      );
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([202, 202, 202, 429, 429, 429, 429, 429]);
      for (const refused of answers.filter((a) => a.status === 429)) {
        expect(refused.type).toContain('application/problem+json');
        expect(refused.body).toMatchObject({
          quota: 'packageRequestsPerMonth',
          limit: 3,
          reset_at: nextMonth(),
        });
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // On PostgreSQL a reader sees an event once every older transaction has ended (the store's
      // visibility bound), so a read right after the answers may trail them briefly: wait for the three.
      await expect.poll(() => countOf('PackageRequestSubmitted', tenant.id), { timeout: 10_000 }).toBe(3);
      await expect.poll(() => countOf('PackageRequestCounted', tenant.id), { timeout: 10_000 }).toBe(3);
      // One more, alone: refused, nothing appended at all.
      const before = await lastWritten(t.database.db);
      expect((await call(member, '/v1/package-requests', { json: lockfile('late') })).status).toBe(429);
      expect(await lastWritten(t.database.db)).toBe(before);

      const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
      const stats = await call(owner, `/v1/tenants/${tenant.id}/stats`);
      expect(stats.status).toBe(200);
      expect(stats.body).toMatchObject({
        package_requests_this_month: 3,
        package_requests_reset_at: nextMonth(),
        limits: { package_requests_per_month: 3, tool_concurrency: 8 },
      });
      expect(Object.values(stats.body).filter((v) => v === null)).toEqual([]);

      // Back to the plan (enterprise: unlimited): requests pass again.
      const reset = await setLimits(tenant, {});
      expect(reset.overrides).toEqual({});
      expect(reset.limits.package_requests_per_month).toBeNull();
      expect((await call(member, '/v1/package-requests', { json: lockfile('again') })).status).toBe(202);
      expect((await call(owner, `/v1/tenants/${tenant.id}/stats`)).body.package_requests_this_month).toBe(4);
    });

    it('lets only the platform superadmin set limits; bad values are 400 naming the field; another tenant is 404; nothing appended', async () => {
      const tenant = await t.tenant(undefined, 'free');
      const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
      const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
      const other = await t.tenant();
      const stranger = await t.user({ tenant: other.slug, role: 'owner' });
      const before = await lastWritten(t.database.db);
      const path = `/v1/tenants/${tenant.id}/limits`;
      for (const user of [owner, admin]) {
        const res = await call(user, path, { method: 'PUT', json: { workspaces: 100 } });
        expect(res.status).toBe(403);
        expect(res.type).toContain('application/problem+json');
      }
      expect([403, 404]).toContain(
        (await call(stranger, path, { method: 'PUT', json: { workspaces: 1 } })).status,
      );
      for (const [body, field] of [
        [{ max_users: -1 }, 'max_users'],
        [{ tool_concurrency: null }, 'tool_concurrency'],
        [{ api_rate_per_minute: 0 }, 'api_rate_per_minute'],
        [{ workspaces: 1.5 }, 'workspaces'],
        [{ seats: 3 }, 'seats'],
      ] as const) {
        const res = await call(root, path, { method: 'PUT', json: body, tenant: tenant.slug });
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.errors.map((e: { path: string }) => e.path).join(' ')).toContain(field);
      }
      expect(
        (
          await call(root, `/v1/tenants/${crypto.randomUUID()}/limits`, {
            method: 'PUT',
            json: {},
            tenant: tenant.slug,
          })
        ).status,
      ).toBe(404);
      expect(await lastWritten(t.database.db)).toBe(before);
      // The same limits again change nothing.
      const set = await setLimits(tenant, { workspaces: 2 });
      const again = await setLimits(tenant, { workspaces: 2 });
      expect(again.revision).toBe(set.revision);
    });

    it('every quota reads the override: users, tool executions a day, workspaces', async () => {
      const tenant = await t.tenant(undefined, 'enterprise');
      const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
      // Users: the owner holds the one seat allowed.
      await setLimits(tenant, { max_users: 1 });
      const added = await call(owner, '/v1/users', {
        json: {
          email: 'second@example.com',
          password: 'plum-orbit-kettle-47',
          name: 'Second',
          role: 'member',
        },
      });
      expect(added.status, JSON.stringify(added.body)).toBe(409);
      expect(added.body.rule).toBe('user_limit');

      // Workspaces: none allowed.
      await setLimits(tenant, { workspaces: 0 });
      const before = await lastWritten(t.database.db);
      const workspace = await call(owner, '/v1/workspaces', {
        json: { image: 'nginx:alpine', resources: { cpus: 0.5, memory_mb: 64 } },
      });
      expect(workspace.status, JSON.stringify(workspace.body)).toBe(409);
      expect(workspace.body.detail).toContain('0 workspaces');
      expect(await lastWritten(t.database.db)).toBe(before);
    });

    it('the daily tool executions read the override: 429 naming the quota, its limit and reset', async () => {
      const { operator } = await toolTenant(t, 'enterprise');
      const tenant = { id: operator.tenantId, slug: operator.tenantSlug };
      await setLimits(tenant, { tool_executions_per_day: 1 });
      expect((await execute(t, operator, 'hash-identify', { hash: 'abc' })).status).toBe(202);
      const refused = await execute(t, operator, 'hash-identify', { hash: 'abc' });
      expect(refused.status).toBe(429);
      const body = (await refused.json()) as LooseJson;
      const tomorrow = new Date();
      tomorrow.setUTCHours(0, 0, 0, 0);
      tomorrow.setUTCDate(tomorrow.getUTCDate() + 1);
      expect(body).toMatchObject({
        quota: 'toolExecutionsPerDay',
        limit: 1,
        reset_at: tomorrow.toISOString(),
      });
    });
  });
}
