import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/http/kit/env.ts';
import { rateLimit } from '../../src/http/middleware/rate-limit.ts';
import type { Principal, ResolvedTenant } from '../../src/identity/principal.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

for (const kind of databaseKinds) {
  describe(`per-caller rate limit (${kind.name})`, () => {
    let fresh: TestDatabase;
    let now = Date.parse('2026-03-01T12:00:10Z');

    beforeAll(async () => {
      fresh = await kind.fresh();
    });
    afterAll(async () => {
      await fresh?.dispose();
    });

    /** An app whose tenant and caller are set as tenant resolution and authentication would set them. */
    function appFor(
      tenant: ResolvedTenant,
      limitFor?: (t: ResolvedTenant) => number,
      caller: Principal = principal(tenant),
    ) {
      const app = new Hono<AppEnv>();
      app.use('*', async (c, next) => {
        c.set('tenant', tenant);
        c.set('principal', caller);
        await next();
      });
      app.use(
        '*',
        rateLimit({
          db: fresh.database.db,
          clock: () => new Date(now),
          anonymousLimit: 1,
          clientAddress: () => '192.0.2.1',
          ...(limitFor ? { limitFor } : {}),
        }).callers,
      );
      app.get('/v1/thing', (c) => c.json({ ok: true }));
      return app;
    }
    const principal = (tenant: ResolvedTenant, clientId?: string): Principal => ({
      userId: clientId ?? randomUUID(),
      tenantId: tenant.id,
      role: 'member',
      platformSuperadmin: false,
      permissions: new Set(),
      tokenId: randomUUID(),
      tokenExpiresAt: new Date(now + 900_000),
      ...(clientId ? { clientId } : {}),
    });
    const tenant = (plan = 'free'): ResolvedTenant => ({
      id: randomUUID(),
      slug: 'acme',
      status: 'active',
      plan,
      via: 'header',
    });

    it("uses the plan's requests per minute and tells the client with RateLimit headers", async () => {
      const res = await appFor(tenant('basic')).request('/v1/thing');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe('600');
      expect(res.headers.get('ratelimit-remaining')).toBe('599');
      expect(res.headers.get('ratelimit-reset')).toBe('50');
    });

    it('answers 429 with Retry-After over the limit, and serves again in the next window', async () => {
      const app = appFor(tenant(), () => 3);
      for (let i = 0; i < 3; i++) expect((await app.request('/v1/thing')).status).toBe(200);
      const refused = await app.request('/v1/thing');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toBe('application/problem+json');
      expect(refused.headers.get('retry-after')).toBe(refused.headers.get('ratelimit-reset'));
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      now += 60_000;
      expect((await app.request('/v1/thing')).status).toBe(200);
    });

    it('counts each caller apart and lets exactly the limit through under parallel requests', async () => {
      const shared = tenant();
      const busy = appFor(shared, () => 10);
      const statuses = await Promise.all(
        Array.from({ length: 30 }, async () => (await busy.request('/v1/thing')).status),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20);
      // Another user, an OAuth client acting for itself, the same client acting for a user: each its own budget.
      const client = randomUUID();
      for (const other of [
        principal(shared),
        principal(shared, client),
        { ...principal(shared, client), userId: randomUUID() },
      ]) {
        expect((await appFor(shared, () => 10, other).request('/v1/thing')).status).toBe(200);
      }
      expect((await appFor(tenant(), () => 10).request('/v1/thing')).status).toBe(200);
    });

    it('shares one count between processes that lease hits: never more than the limit, at most a lease per process less', async () => {
      const shared = tenant();
      const caller = principal(shared);
      // Two apps stand for two processes: each keeps its own leases, both count in the same table.
      const [one, two] = [appFor(shared, () => 1000, caller), appFor(shared, () => 1000, caller)];
      let admitted = 0;
      for (let i = 0; i < 1300; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, async (_, j) => (await (j % 2 ? one : two).request('/v1/thing')).status),
        );
        admitted += batch.filter((s) => s === 200).length;
      }
      expect(admitted).toBeLessThanOrEqual(1000);
      // Leases of 10 (1 %); parallel requests of one process may each take one, and the last ones taken run out unused.
      expect(admitted).toBeGreaterThanOrEqual(900);
    });
  });
}
