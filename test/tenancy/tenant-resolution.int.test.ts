import { OpenAPIHono } from '@hono/zod-openapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainStreamId } from '../../src/commands/tenancy/domains.ts';
import { createTenant } from '../../src/commands/tenancy/index.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import type { AppEnv } from '../../src/http/kit/env.ts';
import { resolveTenant, tenantAwarePath } from '../../src/http/middleware/tenant.ts';
import type { TenantListTables } from '../../src/projections/tenancy/index.ts';
import { testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { tenantFixtures, uniqueSlug } from './support.ts';

type App = Awaited<ReturnType<typeof testApp>>;

for (const kind of databaseKinds) {
  describe(`tenant resolution (${kind.name})`, () => {
    let t: App;
    let fixtures: ReturnType<typeof tenantFixtures>;
    let now = Date.parse('2026-01-01T00:00:00Z');
    let app: OpenAPIHono<AppEnv>;

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      fixtures = tenantFixtures(t.store, t.engine);
      const resolver = resolveTenant({
        db: t.database.db,
        baseDomain: 'warden.test',
        cacheTtlMs: 5000,
        clock: () => new Date(now),
      });
      app = new OpenAPIHono<AppEnv>({ getPath: tenantAwarePath });
      app.use('/v1/*', resolver.middleware);
      app.get('/v1/here', (c) => c.json({ tenant: c.get('tenant'), path: c.req.path }));
      app.post('/v1/auth/login', (c) => c.json({ tenant: c.get('tenant')?.slug }));
    });
    afterAll(async () => {
      await t?.dispose();
    });

    /** Each lookup after a change must miss the cache, so each test moves the clock past the TTL. */
    const expireCache = () => {
      now += 10_000;
    };
    const here = async (url: string, headers: Record<string, string> = {}) => {
      const res = await app.request(url, { headers });
      return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as never };
    };

    it('finds a tenant created a moment ago that the list does not show yet, and keeps no 404 for it past a second', async () => {
      // Heads polled an hour apart, and the tenant created through a store this app does not hear (as
      // another process's would be): the list shows it only once a request asks the engine to catch up.
      const lagging = await testApp(kind.fresh, {
        projectionPollMs: 3_600_000,
        subscriptionPollMs: 3_600_000,
        env: { WARDEN_TENANT_CACHE_TTL_MS: '60000' },
      });
      try {
        const elsewhere = postgresEventStore({ ...lagging.database });
        const create = (slug: string) =>
          createTenant(
            elsewhere,
            { slug, name: slug, plan: 'free', at: new Date().toISOString() },
            { metadata: { requestId: 'test', correlationId: 'test' } },
          );
        const listed = (slug: string) =>
          lagging.database.db
            .withTables<TenantListTables>()
            .selectFrom('tenant_list')
            .select('id')
            .where('slug', '=', slug)
            .executeTakeFirst();
        const fresh = uniqueSlug();
        await create(fresh);
        expect(await listed(fresh)).toBeUndefined();
        // Resolved (then refused for want of a token), not 404.
        expect((await lagging.request('/v1/me', { tenant: fresh })).status).toBe(401);
        expect(await listed(fresh)).toBeDefined();

        // A slug asked for before its tenant exists is 404, and remembered so for a second at most
        // (not for the cache's minute).
        const later = uniqueSlug();
        expect((await lagging.request('/v1/me', { tenant: later })).status).toBe(404);
        await create(later);
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        expect((await lagging.request('/v1/me', { tenant: later })).status).toBe(401);
      } finally {
        await lagging.dispose();
      }
    });

    it('resolves by path prefix and serves the same route with the prefix stripped', async () => {
      const acme = await fixtures.create('basic');
      const res = await here(`http://localhost/t/${acme.slug}/v1/here`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        tenant: { id: acme.id, slug: acme.slug, status: 'active', plan: 'basic', via: 'path' },
        path: '/v1/here',
      });
    });

    it('resolves by X-Tenant header, by registered custom domain, and by subdomain of the base domain', async () => {
      const acme = await fixtures.create();
      await fixtures.addDomain(acme.id, `packages.${acme.slug}.example`);
      const byHeader = await here('http://localhost/v1/here', { 'x-tenant': acme.slug.toUpperCase() });
      expect(byHeader.body).toMatchObject({ tenant: { id: acme.id, via: 'header' } });
      const byDomain = await here(`http://packages.${acme.slug}.example/v1/here`);
      expect(byDomain.body).toMatchObject({ tenant: { id: acme.id, via: 'domain' } });
      const bySubdomain = await here(`http://${acme.slug}.warden.test/v1/here`);
      expect(bySubdomain.body).toMatchObject({ tenant: { id: acme.id, via: 'subdomain' } });
    });

    it('answers 404 problem+json for an unknown tenant and never falls back to a later form', async () => {
      const acme = await fixtures.create();
      const unknown = uniqueSlug('ghost');
      for (const [url, headers] of [
        [`http://${acme.slug}.warden.test/t/${unknown}/v1/here`, { 'x-tenant': unknown }],
        [`http://${acme.slug}.warden.test/v1/here`, { 'x-tenant': unknown }],
        [`http://${unknown}.warden.test/v1/here`, {}],
        ['http://localhost/v1/here', {}],
        ['http://localhost/t/Not_A_Slug/v1/here', {}],
      ] as const) {
        const res = await here(url, headers);
        expect(res.status, url).toBe(404);
        expect(res.type).toBe('application/problem+json');
      }
    });

    it('refuses a path and a header that name different tenants', async () => {
      const [a, b] = [await fixtures.create(), await fixtures.create()];
      const res = await here(`http://localhost/t/${a.slug}/v1/here`, { 'x-tenant': b.slug });
      expect(res.status).toBe(400);
    });

    it('treats a deleted tenant as unknown, by slug and by its custom domain', async () => {
      const gone = await fixtures.create();
      await fixtures.addDomain(gone.id, `${gone.slug}.example`);
      await fixtures.change(gone.id, { type: 'DeleteTenant', at: new Date().toISOString() });
      expireCache();
      expect((await here(`http://localhost/t/${gone.slug}/v1/here`)).status).toBe(404);
      expect((await here(`http://${gone.slug}.example/v1/here`)).status).toBe(404);
    });

    it('serves a custom domain only once it is verified, and forgets it once removed', async () => {
      const acme = await fixtures.create();
      const host = `pending.${acme.slug}.example`;
      await fixtures.addDomain(acme.id, host, false);
      expireCache();
      expect((await here(`http://${host}/v1/here`)).status).toBe(404);
      await fixtures.addDomain(acme.id, host);
      expireCache();
      expect((await here(`http://${host}/v1/here`)).body).toMatchObject({
        tenant: { id: acme.id, via: 'domain' },
      });
      await fixtures.removeDomain(acme.id, host);
      expireCache();
      expect((await here(`http://${host}/v1/here`)).status).toBe(404);
    });

    it('never lets a recorded custom domain under the base domain shadow the subdomain it names, cached or not', async () => {
      const [squatter, victim] = [await fixtures.create(), await fixtures.create()];
      // Recorded before names under the base domain were refused, and even verified.
      const domain = `${victim.slug}.warden.test`;
      const stream = await domainStreamId(domain);
      const metadata = { requestId: 'test', correlationId: 'test', tenantId: squatter.id };
      const at = new Date().toISOString();
      const written = await t.store.append(stream, [
        {
          id: crypto.randomUUID(),
          type: 'TenantDomainAdded',
          data: { tenantId: squatter.id, domain, verificationToken: 'token-0123456789abcdef', at },
          metadata,
        },
        {
          id: crypto.randomUUID(),
          type: 'TenantDomainVerified',
          data: { tenantId: squatter.id, domain, at },
          metadata,
        },
      ]);
      expect(await t.engine.waitFor(['tenantDomains'], written.position, 5000)).toBe(true);
      expireCache();
      for (let i = 0; i < 2; i++) {
        expect((await here(`http://${domain}/v1/here`)).body).toMatchObject({
          tenant: { id: victim.id, via: 'subdomain' },
        });
      }
      // A gone tenant's subdomain is 404, never someone's custom domain.
      await fixtures.change(victim.id, { type: 'DeleteTenant', at: new Date().toISOString() });
      expireCache();
      expect((await here(`http://${domain}/v1/here`)).status).toBe(404);
    });

    it("never looks the platform's own hosts up as custom domains", async () => {
      const resolver = resolveTenant({
        db: t.database.db,
        baseDomain: 'warden.test',
        platformHosts: ['platform.example.com'],
        cacheTtlMs: 0,
      });
      const platform = new OpenAPIHono<AppEnv>({ getPath: tenantAwarePath });
      platform.use('/v1/*', resolver.optional);
      platform.get('/v1/here', (c) => c.json({ tenant: c.get('tenant') ?? null }));
      const acme = await fixtures.create();
      await fixtures.addDomain(acme.id, 'platform.example.com');
      expect(await (await platform.request('http://platform.example.com/v1/here')).json()).toEqual({
        tenant: null,
      });
    });

    it('with a sync interval, a suspension and a reactivation reach a minute-long cache within it, by slug and by custom domain', async () => {
      // The resolver `warden serve` builds: lookups kept a minute, the list's changed rows read every
      // 200 ms. The changes go through the store directly (as another process's would): nobody tells
      // this resolver, and its clock is real, so only the sync can drop what it holds.
      const synced = resolveTenant({
        db: t.database.db,
        baseDomain: 'warden.test',
        cacheTtlMs: 60_000,
        syncMs: 200,
      });
      const syncedApp = new OpenAPIHono<AppEnv>({ getPath: tenantAwarePath });
      syncedApp.use('/v1/*', synced.middleware);
      syncedApp.get('/v1/here', (c) => c.json({ tenant: c.get('tenant') }));
      const acme = await fixtures.create();
      const domain = `api.${acme.slug}.example`;
      await fixtures.addDomain(acme.id, domain);
      const statuses = async () =>
        Promise.all(
          [`http://localhost/t/${acme.slug}/v1/here`, `http://${domain}/v1/here`].map(
            async (url) => (await syncedApp.request(url)).status,
          ),
        );
      const afterSync = () => new Promise((resolve) => setTimeout(resolve, 300));
      expect(await statuses()).toEqual([200, 200]);

      await fixtures.change(acme.id, {
        type: 'SuspendTenant',
        reason: 'unpaid',
        at: new Date().toISOString(),
      });
      await afterSync();
      expect(await statuses()).toEqual([403, 403]);

      await fixtures.change(acme.id, { type: 'ReactivateTenant', at: new Date().toISOString() });
      await afterSync();
      expect(await statuses()).toEqual([200, 200]);
    });

    it('answers 403 to a suspended tenant on every call but login, and serves it again once reactivated', async () => {
      const acme = await fixtures.create();
      await fixtures.change(acme.id, {
        type: 'SuspendTenant',
        reason: 'unpaid',
        at: new Date().toISOString(),
      });
      expireCache();
      const refused = await here(`http://localhost/t/${acme.slug}/v1/here`);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ type: '/problems/tenant-suspended' });
      const login = await app.request(`http://localhost/t/${acme.slug}/v1/auth/login`, { method: 'POST' });
      expect(login.status).toBe(200);
      expect(await login.json()).toEqual({ tenant: acme.slug });

      await fixtures.change(acme.id, { type: 'ReactivateTenant', at: new Date().toISOString() });
      expect((await here(`http://localhost/t/${acme.slug}/v1/here`)).status).toBe(403);
      expireCache();
      expect((await here(`http://localhost/t/${acme.slug}/v1/here`)).status).toBe(200);
    });
  });
}
