import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { oauthFixture } from '../oauth/support.ts';
import { serviceWorkers, waitUntil } from '../processes/support.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { readAllWritten } from '../support/visibility.ts';

for (const kind of databaseKinds) {
  describe(`a removed user's sessions (${kind.name})`, () => {
    let t: TestApp;
    let worker: Worker;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      worker = await serviceWorkers(t);
    });
    afterAll(async () => {
      await worker.stop();
      await t.dispose();
    });

    it('end at once: their access tokens, their refresh tokens and the OAuth grants they gave, with an event each', async () => {
      const o = await oauthFixture(t);
      const slug = o.tenant.slug;
      const ann = await t.user({ tenant: slug, role: 'member' });
      const other = await t.user({ tenant: slug, role: 'member' });

      // Ann signs in to a client through the real pages; the client calls Warden's API as her.
      const client = await o.confidential();
      const flow = await o.codeFlow(client, 'openid offline_access packages:read', {}, ann);
      expect(flow.res.status).toBe(200);
      const grant = flow.tokens as { access_token: string; refresh_token: string };

      const me = (token: string) => t.request('/v1/me', { token, tenant: slug });
      expect((await me(ann.token)).status).toBe(200);
      expect((await me(grant.access_token)).status).toBe(200);
      expect((await me(other.token)).status).toBe(200);

      const removed = await t.request(`/v1/users/${ann.userId}`, {
        token: o.owner.token,
        tenant: slug,
        method: 'DELETE',
      });
      expect(removed.status).toBe(204);

      // Within the revocation sync interval of this process (1 s), not when the tokens expire.
      await waitUntil('her access token refused', async () => (await me(ann.token)).status === 401, 20_000);
      await waitUntil(
        'the OAuth access token refused',
        async () => (await me(grant.access_token)).status === 401,
        20_000,
      );
      expect((await me(other.token)).status).toBe(200);

      const refreshed = await t.request('/v1/auth/refresh', {
        tenant: slug,
        json: { refresh_token: ann.refreshToken },
      });
      expect(refreshed.status).toBe(401);
      const oauthRefresh = await o.post('/oauth/token', client, {
        grant_type: 'refresh_token',
        refresh_token: grant.refresh_token,
      });
      expect(oauthRefresh.status).toBe(400);
      expect(((await oauthRefresh.json()) as { error: string }).error).toBe('invalid_grant');

      // Each family's end is in the audit trail, caused by the removal.
      const events = await readAllWritten(t.store, t.database.db, { types: ['TokenFamilyRevoked'] });
      const gone = events.filter(
        (e) => (e.data as { reason: string }).reason === 'user_gone' && e.metadata.tenantId === o.tenant.id,
      );
      expect(gone).toHaveLength(2);
      expect(new Set(gone.map((e) => e.metadata.actorId))).toEqual(new Set(['process:userSessions']));
    });

    it('end at once when the role loses permissions (an admin made a member); a promotion ends nothing', async () => {
      const o = await oauthFixture(t);
      const slug = o.tenant.slug;
      const bo = await t.user({ tenant: slug, role: 'admin' });
      const cy = await t.user({ tenant: slug, role: 'member' });
      const users = (token: string) => t.request('/v1/users', { token, tenant: slug });
      expect((await users(bo.token)).status).toBe(200);
      const roleOf = (id: string, role: string) =>
        t.request(`/v1/users/${id}`, { token: o.owner.token, tenant: slug, method: 'PATCH', json: { role } });

      expect((await roleOf(cy.userId, 'admin')).status).toBe(200);
      expect((await roleOf(bo.userId, 'member')).status).toBe(200);
      // Her admin token would list users until it expired; it is refused within the sync interval.
      await waitUntil(
        'the demoted admin’s token refused',
        async () => (await users(bo.token)).status === 401,
        20_000,
      );
      const refreshed = await t.request('/v1/auth/refresh', {
        tenant: slug,
        json: { refresh_token: bo.refreshToken },
      });
      expect(refreshed.status).toBe(401);
      // Signing in again gives a token of the new role: a member may not list users.
      const again = await t.request('/v1/auth/login', {
        tenant: slug,
        json: { email: bo.email, password: bo.password },
      });
      const fresh = ((await again.json()) as { access_token: string }).access_token;
      expect((await users(fresh)).status).toBe(403);
      // The promoted member's sign-in goes on (its token still says member until it refreshes).
      expect((await t.request('/v1/me', { token: cy.token, tenant: slug })).status).toBe(200);
      const lowered = (
        await readAllWritten(t.store, t.database.db, { types: ['TokenFamilyRevoked'] })
      ).filter(
        (e) =>
          (e.data as { reason: string }).reason === 'role_lowered' && e.metadata.tenantId === o.tenant.id,
      );
      expect(lowered).toHaveLength(1);
    });
  });
}
