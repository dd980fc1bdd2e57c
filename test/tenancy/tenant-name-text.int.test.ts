import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { uniqueSlug } from './support.ts';

/**
 * A tenant's name reaches the tenant list, which resolves every tenant, and the audit trail's
 * summaries. A NUL or an unpaired surrogate in it used to be stored, and both projections stopped at
 * it: new tenants no longer resolved and no tenant's audit moved on. An owner renaming their own
 * tenant, or anyone signing up where sign-up is open, could do it.
 */
describe('tenant names a read model cannot hold', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite, { env: { WARDEN_TENANT_SIGNUP: 'open' } });
  });
  afterAll(async () => {
    await t.dispose();
  });

  it('refuses them from an owner renaming and from a sign-up with a 400 naming the field', async () => {
    const owner = await t.user({ role: 'owner' });
    for (const name of ['Acme\u0000', 'Acme\ud800']) {
      const renamed = await t.request(`/v1/tenants/${owner.tenantId}`, {
        token: owner.token,
        method: 'PATCH',
        json: { name },
      });
      const body = (await renamed.json()) as LooseJson;
      expect(renamed.status, JSON.stringify(body)).toBe(400);
      expect(body.errors.map((e: { path: string }) => e.path)).toContain('name');
      const signup = await t.request('/v1/signup', {
        json: {
          slug: uniqueSlug(),
          name,
          owner: {
            email: `o-${crypto.randomUUID().slice(0, 8)}@example.com`,
            name: 'O',
            password: 'copper-lagoon-71-thistle',
          },
        },
      });
      expect(signup.status).toBe(400);
      expect(((await signup.json()) as LooseJson).errors.map((e: { path: string }) => e.path)).toContain(
        'name',
      );
    }
    // The shared read models go on: a rename after them is listed and audited.
    const fine = await t.request(`/v1/tenants/${owner.tenantId}`, {
      token: owner.token,
      method: 'PATCH',
      json: { name: 'Acme Corp' },
    });
    expect(fine.status).toBe(200);
    const position = BigInt(fine.headers.get('x-position')!);
    expect(await t.engine.waitFor(['tenantList', 'auditEntries'], position, 5000)).toBe(true);
    expect((await t.engine.status()).filter((s) => s.state === 'failed')).toEqual([]);
  });
});
