import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser } from '../../src/commands/identity/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import {
  expectForeignIdsNotFound,
  expectMatrix,
  type ProtectedRoute,
  type Send,
  sender,
} from '../tenancy/authorization.ts';
import { uniqueSlug } from '../tenancy/support.ts';

/**
 * Every protected route of identity and tenancy, sent by every role (and the platform superadmin) with
 * real access tokens, checked against the permission matrix in src/commands/identity/permissions.ts; then every
 * id of tenant A asked for through tenant B.
 */
for (const kind of databaseKinds) {
  describe(`authorization of identity and tenancy routes (${kind.name})`, () => {
    let t: TestApp;
    let send: Send;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      send = sender(t);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    let counter = 0;
    /** A user of the tenant to act on, registered directly (the route under test is not the setup). */
    const member = async (tenant: { id: string }, status: 'active' | 'pending' = 'active') => {
      const result = await registerUser(
        t.store,
        t.identity.hasher,
        {
          tenantId: tenant.id,
          email: `target-${counter++}-${crypto.randomUUID().slice(0, 6)}@example.com`,
          name: 'Target',
          password: 'plum-orbit-kettle-47',
          role: 'member',
          via: status === 'pending' ? 'signup' : 'admin',
          maxUsers: null,
          defaultPolicy: status === 'pending' ? 'approval' : 'open',
          at: new Date().toISOString(),
        },
        { metadata: { tenantId: tenant.id } },
      );
      await t.engine.waitFor(['userList'], result.position, 5000);
      return result.state.userId;
    };

    const routes: ProtectedRoute[] = [
      {
        name: 'GET /v1/users',
        permission: 'users:read',
        prepare: () => ({ method: 'GET', path: '/v1/users' }),
      },
      {
        name: 'GET /v1/users/{id}',
        permission: 'users:read',
        prepare: async (x) => ({ method: 'GET', path: `/v1/users/${await member(x)}` }),
      },
      {
        name: 'POST /v1/users',
        permission: 'users:manage',
        prepare: () => ({
          method: 'POST',
          path: '/v1/users',
          body: {
            email: `added-${counter++}@example.com`,
            password: 'plum-orbit-kettle-47',
            name: 'Added',
            role: 'member',
          },
        }),
      },
      {
        name: 'POST /v1/users/{id}/approve',
        permission: 'users:manage',
        prepare: async (x) => ({ method: 'POST', path: `/v1/users/${await member(x, 'pending')}/approve` }),
      },
      {
        name: 'POST /v1/users/{id}/reject',
        permission: 'users:manage',
        prepare: async (x) => ({ method: 'POST', path: `/v1/users/${await member(x, 'pending')}/reject` }),
      },
      {
        name: 'PATCH /v1/users/{id}',
        permission: 'users:manage',
        prepare: async (x) => ({
          method: 'PATCH',
          path: `/v1/users/${await member(x)}`,
          body: { role: 'operator' },
        }),
      },
      {
        name: 'PATCH /v1/users/{id} (username)',
        permission: 'users:manage',
        prepare: async (x) => ({
          method: 'PATCH',
          path: `/v1/users/${await member(x)}`,
          body: { username: `handle-${counter++}` },
        }),
      },
      {
        name: 'DELETE /v1/users/{id}',
        permission: 'users:manage',
        prepare: async (x) => ({ method: 'DELETE', path: `/v1/users/${await member(x)}` }),
      },
      {
        name: 'GET /v1/signup-policy',
        permission: 'users:read',
        prepare: () => ({ method: 'GET', path: '/v1/signup-policy' }),
      },
      {
        name: 'PUT /v1/signup-policy',
        permission: 'tenant:manage',
        prepare: () => ({ method: 'PUT', path: '/v1/signup-policy', body: { policy: 'approval' } }),
      },
      {
        name: 'GET /v1/tenants/{id}',
        permission: 'tenant:read',
        prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}` }),
      },
      {
        name: 'PATCH /v1/tenants/{id} (name)',
        permission: 'tenant:manage',
        prepare: (x) => ({
          method: 'PATCH',
          path: `/v1/tenants/${x.id}`,
          body: { name: `Renamed ${counter++}` },
        }),
      },
      {
        name: 'PATCH /v1/tenants/{id} (plan)',
        permission: 'platform:manage',
        prepare: (x) => ({ method: 'PATCH', path: `/v1/tenants/${x.id}`, body: { plan: 'enterprise' } }),
      },
      {
        name: 'GET /v1/tenants/{id}/stats',
        permission: 'tenant:manage',
        prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}/stats` }),
      },
      {
        name: 'GET /v1/tenants/{id}/domains',
        permission: 'tenant:manage',
        prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}/domains` }),
      },
      {
        name: 'GET /v1/tenants/{id}/domains/{domain}',
        permission: 'tenant:manage',
        // Nobody's claim: the route is reached (404), or refused before it (403).
        ok: [404],
        prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}/domains/unclaimed.example.com` }),
      },
      {
        name: 'POST /v1/tenants/{id}/domains/{domain}/verify',
        permission: 'tenant:manage',
        // Nobody's claim: the route is reached (404), or refused before it (403).
        ok: [404],
        prepare: (x) => ({
          method: 'POST',
          path: `/v1/tenants/${x.id}/domains/unclaimed.example.com/verify`,
        }),
      },
    ];

    it('lets each caller through exactly as the permission matrix says, 403 problem otherwise', async () => {
      const acme = await t.tenant();
      const table = await expectMatrix(send, acme, routes);
      expect(Object.keys(table)).toEqual(routes.map((r) => r.name));
    });

    it('keeps tenant creation, listing and suspension to the platform superadmin', async () => {
      const acme = await t.tenant();
      const platformRoutes: ProtectedRoute[] = [
        {
          name: 'POST /v1/tenants',
          permission: 'platform:manage',
          prepare: () => ({
            method: 'POST',
            path: '/v1/tenants',
            body: { slug: uniqueSlug('new'), name: 'New' },
          }),
        },
        {
          name: 'GET /v1/tenants',
          permission: 'platform:manage',
          prepare: () => ({ method: 'GET', path: '/v1/tenants' }),
        },
        {
          name: 'PUT /v1/tenants/{id}/limits',
          permission: 'platform:manage',
          prepare: (x) => ({
            method: 'PUT',
            path: `/v1/tenants/${x.id}/limits`,
            body: { tool_concurrency: 2 },
          }),
        },
      ];
      await expectMatrix(send, acme, platformRoutes);
      // Suspension of a tenant that is not the caller's: tenant roles see 404 (not theirs), the superadmin 200.
      const other = await t.tenant();
      const asOwner = await send({
        method: 'POST',
        path: `/v1/tenants/${other.id}/suspend`,
        body: { reason: 'unpaid' },
        as: 'owner',
        tenant: acme,
      });
      expect([403, 404]).toContain(asOwner.status);
      const own = await send({
        method: 'POST',
        path: `/v1/tenants/${acme.id}/suspend`,
        body: { reason: 'unpaid' },
        as: 'owner',
        tenant: acme,
      });
      expect(own.status).toBe(403);
      const root = await send({
        method: 'POST',
        path: `/v1/tenants/${other.id}/suspend`,
        body: { reason: 'unpaid' },
        as: 'superadmin',
        tenant: other,
      });
      expect(root.status, await root.clone().text()).toBe(200);
      // The anonymous caller: 401, never a list of tenants.
      expect((await t.request('/v1/tenants')).status).toBe(401);
    });

    it('answers 404 for every id of tenant A asked for through tenant B, and changes nothing in A', async () => {
      const [a, b] = [await t.tenant(), await t.tenant()];
      const target = await member(a);
      const foreign: ProtectedRoute[] = [
        {
          name: 'get user',
          permission: 'users:read',
          prepare: () => ({ method: 'GET', path: `/v1/users/${target}` }),
        },
        {
          name: 'change role',
          permission: 'users:manage',
          prepare: () => ({ method: 'PATCH', path: `/v1/users/${target}`, body: { role: 'admin' } }),
        },
        {
          name: 'remove user',
          permission: 'users:manage',
          prepare: () => ({ method: 'DELETE', path: `/v1/users/${target}` }),
        },
        {
          name: 'approve user',
          permission: 'users:manage',
          prepare: () => ({ method: 'POST', path: `/v1/users/${target}/approve` }),
        },
        {
          name: 'get tenant',
          permission: 'tenant:read',
          prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}` }),
        },
        {
          name: 'rename tenant',
          permission: 'tenant:manage',
          prepare: (x) => ({ method: 'PATCH', path: `/v1/tenants/${x.id}`, body: { name: 'Taken over' } }),
        },
        {
          name: 'delete tenant',
          permission: 'tenant:manage',
          prepare: (x) => ({ method: 'DELETE', path: `/v1/tenants/${x.id}` }),
        },
        {
          name: 'stats',
          permission: 'tenant:manage',
          prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}/stats` }),
        },
      ];
      const events = async () =>
        Number(
          (
            await t.database.db
              .selectFrom('warden_events')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .where('stream_id', 'in', [`identity.User-${target}`, `tenancy.Tenant-${a.id}`])
              .executeTakeFirstOrThrow()
          ).n,
        );
      const before = await events();
      await expectForeignIdsNotFound(send, a, b, foreign);
      expect(await events()).toBe(before);
      // The user of A is still there, as A's admin sees it.
      const still = await send({ method: 'GET', path: `/v1/users/${target}`, as: 'admin', tenant: a });
      expect(still.status).toBe(200);
    });

    it('keeps an owner: the last one can be neither demoted nor removed (409), a second one can', async () => {
      const acme = await t.tenant();
      const owner = await t.user({ tenant: acme.slug, role: 'owner' });
      const as = (method: string, path: string, json?: unknown) =>
        t.request(path, { method, token: owner.token, tenant: acme.slug, ...(json ? { json } : {}) });
      const demote = await as('PATCH', `/v1/users/${owner.userId}`, { role: 'admin' });
      expect(demote.status).toBe(409);
      expect(await demote.json()).toMatchObject({ rule: 'last_owner' });
      expect((await as('DELETE', `/v1/users/${owner.userId}`)).status).toBe(409);

      const second = await t.user({ tenant: acme.slug, role: 'owner' });
      expect((await as('PATCH', `/v1/users/${second.userId}`, { role: 'admin' })).status).toBe(200);
      expect((await as('PATCH', `/v1/users/${second.userId}`, { role: 'owner' })).status).toBe(200);
      expect((await as('PATCH', `/v1/users/${owner.userId}`, { role: 'admin' })).status).toBe(200);
      // Now `second` is the last owner.
      const last = await t.request(`/v1/users/${second.userId}`, {
        method: 'DELETE',
        token: second.token,
        tenant: acme.slug,
      });
      expect(last.status).toBe(409);
    });

    it('answers /v1/me with the caller, their tenant and permissions, and 401 without a token', async () => {
      const acme = await t.tenant();
      const approver = await t.user({ tenant: acme.slug, role: 'approver' });
      const me = await t.request('/v1/me', { token: approver.token, tenant: acme.slug });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({
        user_id: approver.userId,
        tenant: expect.objectContaining({ id: acme.id, slug: acme.slug }),
        role: 'approver',
        permissions: expect.arrayContaining(['packages:approve', 'users:read']),
      });
      expect((await t.request('/v1/me', { tenant: acme.slug })).status).toBe(401);
    });
  });
}
