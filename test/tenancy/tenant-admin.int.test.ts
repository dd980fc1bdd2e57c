import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeUser, registerUser } from '../../src/commands/identity/index.ts';
import { argon2idHasher } from '../../src/identity/passwords.ts';
import { type LooseJson, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';
import {
  expectForeignIdsNotFound,
  expectMatrix,
  type ProtectedRoute,
  type Send,
  sender,
} from './authorization.ts';
import type { tenantFixtures } from './support.ts';

type App = Awaited<ReturnType<typeof testApp>>;
let counter = 0;
const domain = (base = 'packages') => `${base}-${Date.now().toString(36)}-${counter++}.example.com`;

for (const kind of databaseKinds) {
  describe(`tenant domains and stats over HTTP (${kind.name})`, () => {
    let t: App;
    let fixtures: ReturnType<typeof tenantFixtures>;
    let send: Send;

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      fixtures = t.fixtures;
      send = sender(t);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    /** Signs the owner in (registered on first use) and waits until the users read model has them. */
    const ownerInReadModel = async (tenant: { id: string; slug: string }) => {
      await send({ method: 'GET', path: '/v1/me', as: 'owner', tenant });
      expect(await t.engine.waitFor(['userList'], await lastWritten(t.database.db), 30_000)).toBe(true);
    };

    const addDomain = (
      tenant: { id: string; slug: string },
      name: string,
      as: 'owner' | 'superadmin' = 'owner',
    ) =>
      send({ method: 'POST', path: `/v1/tenants/${tenant.id}/domains`, body: { domain: name }, as, tenant });

    it('adds a custom domain lowercased, lists it, and answers 200 when the tenant already has it', async () => {
      const acme = await fixtures.create();
      const name = domain();
      const added = await addDomain(acme, `  ${name.toUpperCase()} `);
      expect(added.status, await added.clone().text()).toBe(201);
      expect(added.headers.get('location')).toBe(`/v1/tenants/${acme.id}/domains/${name}`);
      const body = (await added.json()) as { domain: string; position: string };
      expect(body.domain).toBe(name);
      expect((await addDomain(acme, name)).status).toBe(200);

      const list = await send({
        method: 'GET',
        path: `/v1/tenants/${acme.id}/domains`,
        headers: { 'x-min-position': body.position },
        as: 'owner',
        tenant: acme,
      });
      expect(((await list.json()) as { items: { domain: string }[] }).items.map((d) => d.domain)).toEqual([
        name,
      ]);
    });

    it('refuses hostnames that are not hostnames, with the field named', async () => {
      const acme = await fixtures.create();
      for (const bad of [
        'localhost',
        'exa mple.com',
        '-bad.example.com',
        'a..b.com',
        'x.123',
        `${'a'.repeat(64)}.com`,
      ]) {
        const res = await addDomain(acme, bad);
        expect(res.status, bad).toBe(400);
        expect(((await res.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe('domain');
      }
    });

    const verifyDomain = (tenant: { id: string; slug: string }, name: string) =>
      send({ method: 'POST', path: `/v1/tenants/${tenant.id}/domains/${name}/verify`, as: 'owner', tenant });

    it('lists a new domain as pending with the TXT record to create, and as verified once the record is there', async () => {
      const acme = await fixtures.create();
      const name = domain();
      const added = (await (await addDomain(acme, name)).json()) as LooseJson;
      expect(added).toMatchObject({
        status: 'pending',
        verified_at: null,
        verification: { type: 'TXT', name: `_warden-challenge.${name}` },
      });
      t.dns.set(`_warden-challenge.${name}`, [[added.verification.value]]);
      const verified = await verifyDomain(acme, name);
      expect(verified.status).toBe(200);
      const list = await send({
        method: 'GET',
        path: `/v1/tenants/${acme.id}/domains`,
        headers: { 'x-min-position': ((await verified.json()) as LooseJson).position },
        as: 'owner',
        tenant: acme,
      });
      expect(((await list.json()) as LooseJson).items).toEqual([
        {
          domain: name,
          tenant_id: acme.id,
          added_at: added.added_at,
          status: 'verified',
          verified_at: expect.any(String),
          verification: added.verification,
        },
      ]);
    });

    it('refuses a domain another tenant has verified (409) until it is released, then lets the other claim it', async () => {
      const [a, b] = [await fixtures.create(), await fixtures.create()];
      const name = domain();
      const added = await addDomain(a, name);
      expect(added.status).toBe(201);
      t.dns.set(`_warden-challenge.${name}`, [[((await added.json()) as LooseJson).verification.value]]);
      expect((await verifyDomain(a, name)).status).toBe(200);
      const taken = await addDomain(b, name);
      expect(taken.status).toBe(409);
      expect(await taken.text()).not.toContain(a.id);
      const notHis = await send({
        method: 'DELETE',
        path: `/v1/tenants/${b.id}/domains/${name}`,
        as: 'owner',
        tenant: b,
      });
      expect(notHis.status).toBe(404);
      expect((await verifyDomain(b, name)).status).toBe(404);
      const released = await send({
        method: 'DELETE',
        path: `/v1/tenants/${a.id}/domains/${name}`,
        as: 'owner',
        tenant: a,
      });
      expect(released.status).toBe(204);
      const claimed = await addDomain(b, name);
      expect(claimed.status).toBe(201);
      // a's record, still in DNS, proves nothing for b's claim.
      const stale = await verifyDomain(b, name);
      expect(stale.status).toBe(409);
      expect(((await stale.json()) as LooseJson).rule).toBe('domain-ownership-not-proven');
    });

    it('lets a pending claim be overtaken, and leaves a domain with exactly one claimant when several claim it at once', async () => {
      const tenants = await Promise.all(Array.from({ length: 6 }, () => fixtures.create()));
      const name = domain('race');
      const answers = await Promise.all(tenants.map((tenant) => addDomain(tenant, name)));
      for (const answer of answers) expect([201, 409]).toContain(answer.status);
      const last = await addDomain(tenants[0]!, name);
      const position = ((await last.json()) as LooseJson).position as string;
      const holders = [];
      for (const tenant of tenants) {
        const list = await send({
          method: 'GET',
          path: `/v1/tenants/${tenant.id}/domains`,
          headers: { 'x-min-position': position },
          as: 'owner',
          tenant,
        });
        if (((await list.json()) as LooseJson).items.length > 0) holders.push(tenant.id);
      }
      expect(holders).toEqual([tenants[0]!.id]);
    });

    it('reports users, package requests this month, the limits that hold and the events stored for the tenant', async () => {
      const acme = await fixtures.create();
      const stats = async () => {
        const res = await send({
          method: 'GET',
          path: `/v1/tenants/${acme.id}/stats`,
          as: 'owner',
          tenant: acme,
        });
        expect(res.status).toBe(200);
        return (await res.json()) as {
          users: number;
          package_requests_this_month: number;
          events_stored: number;
          event_bytes: number;
        };
      };
      await ownerInReadModel(acme);
      const before = await stats();
      // One member: the owner the request is sent as.
      expect(before).toMatchObject({
        tenant_id: acme.id,
        users: 1,
        package_requests_this_month: 0,
        limits: { max_users: 5, package_requests_per_month: 50, workspaces: 1 },
      });
      // Every figure is filled (PostgreSQL/PGlite keep the events).
      expect(Object.values(before).filter((v) => v === null)).toEqual([]);
      await addDomain(acme, domain());
      const after = await stats();
      expect(after.events_stored).toBe(before.events_stored + 1);
      expect(after.event_bytes).toBeGreaterThan(before.event_bytes);
    });

    it('counts the members in the users read model: active and pending, not removed', async () => {
      const acme = await fixtures.create();
      // Real hashing at tiny cost: the figures, not the passwords, are under test.
      const hasher = argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
      const context = { metadata: { requestId: 'test', correlationId: 'test', tenantId: acme.id } };
      const ids: string[] = [];
      for (const name of ['ann', 'bob', 'cy']) {
        const result = await registerUser(
          t.store,
          hasher,
          {
            tenantId: acme.id,
            email: `${name}@example.com`,
            name,
            password: 'correct horse battery staple',
            role: 'member',
            via: 'admin',
            maxUsers: null,
            defaultPolicy: 'open',
            at: new Date().toISOString(),
          },
          context,
        );
        ids.push(result.state.userId);
      }
      const removed = await changeUser(
        t.store,
        acme.id,
        ids[0] ?? '',
        { type: 'RemoveUser', actorIsOwner: false, at: new Date().toISOString() },
        context,
      );
      expect(await t.engine.waitFor(['userList'], removed.position, 5000)).toBe(true);
      await ownerInReadModel(acme);
      const res = await send({
        method: 'GET',
        path: `/v1/tenants/${acme.id}/stats`,
        as: 'owner',
        tenant: acme,
      });
      // ann and cy, and the owner the request is sent as.
      expect(await res.json()).toMatchObject({ users: 3 });
    });

    it('answers null storage figures when the event log is not in PostgreSQL', async () => {
      const acme = await fixtures.create();
      const root = await t.superadmin();
      const elsewhere = t.variant({ eventsInDatabase: false });
      const res = await elsewhere(`/v1/tenants/${acme.id}/stats`, { token: root.token, tenant: acme.slug });
      expect(await res.json()).toMatchObject({ events_stored: null, event_bytes: null });
    });

    it('answers 404 for an unknown or deleted tenant, even to the platform superadmin', async () => {
      const gone = await fixtures.create();
      await fixtures.change(gone.id, { type: 'DeleteTenant', at: new Date().toISOString() });
      const platform = await fixtures.create();
      for (const id of [gone.id, crypto.randomUUID()]) {
        const res = await send({
          method: 'GET',
          path: `/v1/tenants/${id}/stats`,
          as: 'superadmin',
          tenant: platform,
        });
        expect(res.status).toBe(404);
      }
    });

    /** Every route of this module, as the authorization helpers take them. */
    const routes: ProtectedRoute[] = [
      {
        name: 'list domains',
        permission: 'tenant:manage',
        prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}/domains` }),
      },
      {
        name: 'add domain',
        permission: 'tenant:manage',
        prepare: (x) => ({
          method: 'POST',
          path: `/v1/tenants/${x.id}/domains`,
          body: { domain: domain('matrix') },
        }),
      },
      {
        name: 'verify domain',
        permission: 'tenant:manage',
        prepare: async (x) => {
          const name = domain('proven');
          const added = await addDomain(x, name, 'superadmin');
          expect(added.status).toBe(201);
          t.dns.set(`_warden-challenge.${name}`, [[((await added.json()) as LooseJson).verification.value]]);
          return { method: 'POST', path: `/v1/tenants/${x.id}/domains/${name}/verify` };
        },
      },
      {
        name: 'remove domain',
        permission: 'tenant:manage',
        prepare: async (x) => {
          const name = domain('gone');
          expect((await addDomain(x, name, 'superadmin')).status).toBe(201);
          return { method: 'DELETE', path: `/v1/tenants/${x.id}/domains/${name}` };
        },
      },
      {
        name: 'stats',
        permission: 'tenant:manage',
        prepare: (x) => ({ method: 'GET', path: `/v1/tenants/${x.id}/stats` }),
      },
    ];

    it('lets each role through exactly as the permission matrix says (owner and superadmin), 403 otherwise', async () => {
      const table = await expectMatrix(send, await fixtures.create(), routes);
      expect(Object.keys(table)).toEqual(routes.map((r) => r.name));
    });

    it("answers 404 to another tenant's owner for every id of this tenant, and changes nothing", async () => {
      const [a, b] = [await fixtures.create(), await fixtures.create()];
      const before = await send({ method: 'GET', path: `/v1/tenants/${a.id}/stats`, as: 'owner', tenant: a });
      await expectForeignIdsNotFound(send, a, b, routes);
      const after = await send({ method: 'GET', path: `/v1/tenants/${a.id}/stats`, as: 'owner', tenant: a });
      // Only the verify- and remove-domain routes' own setup (as superadmin) wrote to A: two adds, no
      // verification, no removal.
      expect(((await after.json()) as { events_stored: number }).events_stored).toBe(
        ((await before.json()) as { events_stored: number }).events_stored + 2,
      );
    });
  });
}
