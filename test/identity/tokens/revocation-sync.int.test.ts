import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aesKey } from '../../../src/identity/tokens/crypto.ts';
import { identityStack } from '../../../src/identity-stack.ts';
import { type TestApp, testApp } from '../../support/app.ts';
import { databaseKinds } from '../../support/postgres.ts';
import { acrossProcesses } from '../../support/visibility.ts';

const SYNC_MS = 300;

for (const kind of databaseKinds) {
  describe(`revocations across processes (${kind.name})`, () => {
    let t: TestApp;
    /** A second process on the same database: its own identity stack, so its own revocation copy. */
    let other: ReturnType<TestApp['variant']>;
    beforeAll(async () => {
      t = await testApp(kind.fresh, { env: { WARDEN_REVOCATION_SYNC_MS: String(SYNC_MS) } });
      const identity = await identityStack({
        config: t.config,
        db: t.database.db,
        store: t.store,
        // Verifying needs only the public keys, which every process reads from the database.
        keyEncryptionKey: await aesKey(crypto.getRandomValues(new Uint8Array(32))),
      });
      other = t.variant({ identity });
    });
    afterAll(async () => {
      await t?.dispose();
    });

    const me = async (request: TestApp['request'], token: string, tenant: string) =>
      (await request('/v1/me', { token, tenant })).status;

    it('a logout is refused at once where it happened and, by the sync, everywhere else', async () => {
      const user = await t.user();
      expect(await me(other, user.token, user.tenantSlug)).toBe(200); // the other process has synced once
      const out = await t.request('/v1/auth/logout', {
        method: 'POST',
        token: user.token,
        tenant: user.tenantSlug,
      });
      expect(out.status).toBe(204);
      expect(await me(t.request, user.token, user.tenantSlug)).toBe(401);
      await expect.poll(() => me(other, user.token, user.tenantSlug), acrossProcesses).toBe(401);
    });

    it('a refresh-token reuse revokes the family in every process by the sync', async () => {
      const user = await t.user();
      expect(await me(other, user.token, user.tenantSlug)).toBe(200);
      const refresh = (token: string) =>
        t.request('/v1/auth/refresh', { tenant: user.tenantSlug, json: { refresh_token: token } });
      const first = await refresh(user.refreshToken);
      expect(first.status).toBe(200);
      const next = (await first.json()) as { refresh_token: string; access_token: string };
      expect((await refresh(next.refresh_token)).status).toBe(200);
      // The first token again, outside the grace window (its successor is used): reuse, family revoked.
      expect((await refresh(user.refreshToken)).status).toBe(401);
      await expect.poll(() => me(other, next.access_token, user.tenantSlug), acrossProcesses).toBe(401);
      expect(await me(t.request, next.access_token, user.tenantSlug)).toBe(401);
    });
  });
}
