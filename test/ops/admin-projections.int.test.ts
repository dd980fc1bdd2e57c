import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

type Rebuild = { state: string; progress: { done: number; total: number }; error: string | null };

for (const kind of databaseKinds) {
  describe(`projection operations over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let root: string;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      root = (await t.superadmin()).token;
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('lists every projection with position, head, lag, state and last error', async () => {
      const res = await t.request('/v1/admin/projections', { token: root });
      expect(res.status).toBe(200);
      const { items } = (await res.json()) as { items: { name: string; lag: number; state: string }[] };
      expect(items.map((p) => p.name)).toEqual(
        expect.arrayContaining(['tenantList', 'userList', 'auditEntries']),
      );
      for (const p of items) expect(p).toMatchObject({ lag: expect.any(Number), state: expect.any(String) });
    });

    it('rebuilds on request: 202 with Location, progress to the end; a second one meanwhile is 409', async () => {
      for (let i = 0; i < 5; i++) await t.tenant();
      const started = await t.request('/v1/admin/projections/tenantList/rebuild', {
        method: 'POST',
        token: root,
      });
      expect(started.status).toBe(202);
      const location = started.headers.get('location');
      expect(location).toBe('/v1/admin/projections/tenantList/rebuild');
      const again = await t.request('/v1/admin/projections/tenantList/rebuild', {
        method: 'POST',
        token: root,
      });
      expect(again.status).toBe(409);
      expect(again.headers.get('content-type')).toBe('application/problem+json');
      let rebuild: Rebuild;
      const deadline = Date.now() + 30_000;
      do {
        rebuild = (await (await t.request(location!, { token: root })).json()) as Rebuild;
        if (rebuild.state !== 'running') break;
        await new Promise((r) => setTimeout(r, 50));
      } while (Date.now() < deadline);
      expect(rebuild).toMatchObject({ state: 'succeeded', error: null });
      expect(rebuild.progress.done).toBeGreaterThan(0);
      expect(rebuild.progress.done).toBe(rebuild.progress.total);
      // The rebuilt list still resolves tenants and lists them.
      const list = await t.request('/v1/tenants', { token: root });
      expect(((await list.json()) as { items: unknown[] }).items.length).toBeGreaterThanOrEqual(6);
    });

    it('answers 404 for an unknown projection, 400 for a malformed name, 403 to a tenant owner, 401 without a token', async () => {
      expect(
        (await t.request('/v1/admin/projections/nope/rebuild', { method: 'POST', token: root })).status,
      ).toBe(404);
      expect(
        (await t.request('/v1/admin/projections/no%20pe/rebuild', { method: 'POST', token: root })).status,
      ).toBe(400);
      const owner = await t.user({ role: 'owner' });
      const asOwner = await t.request('/v1/admin/projections/tenantList/rebuild', {
        method: 'POST',
        token: owner.token,
        tenant: owner.tenantSlug,
      });
      expect(asOwner.status).toBe(403);
      expect((await t.request('/v1/admin/projections')).status).toBe(401);
    });
  });
}
