import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantIdForSlug, tenantStreamId } from '../../src/commands/tenancy/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { uniqueSlug } from '../tenancy/support.ts';

/** A tenant's own audit trail starts with its creation, by whoever created it. */
describe('a tenant’s creation in its own audit', () => {
  let t: TestApp;
  let root: SignedInUser;
  let outsider: SignedInUser;

  const audit = async (user: SignedInUser, position: string) => {
    const res = await t.request('/v1/audit?limit=200', {
      token: user.token,
      tenant: user.tenantSlug,
      headers: { 'x-min-position': position },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: LooseJson[] }).items;
  };

  beforeAll(async () => {
    t = await testApp(freshPGlite);
    root = await t.superadmin();
    outsider = await t.user({ role: 'owner' });
  });
  afterAll(() => t?.dispose());

  it('shows TenantCreated, with the platform admin who created it, to the new tenant’s owner only', async () => {
    const slug = uniqueSlug('audited');
    const created = await t.request('/v1/tenants', {
      token: root.token,
      tenant: root.tenantSlug,
      json: { slug, name: 'Audited', plan: 'basic' },
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const tenant = (await created.json()) as LooseJson;
    // Signing in finds the tenant by its slug in the tenant list: wait for the list to hold it (under
    // load the projection can trail the owner's registration and sign-in, which then answer 404).
    expect(await t.engine.waitFor('tenantList', BigInt(tenant.position), 30_000)).toBe(true);
    const owner = await t.user({ tenant: slug, role: 'owner' });
    const entries = await audit(owner, tenant.position);
    const creation = entries.find((e) => e.type === 'TenantCreated');
    expect(creation).toMatchObject({ tenant_id: tenant.id, actor_id: root.userId });
    expect(creation?.summary).toContain(slug);
    // Not the creator's tenant's, nor anyone else's.
    expect((await audit(root, tenant.position)).some((e) => e.event_id === creation?.event_id)).toBe(false);
    expect((await audit(outsider, tenant.position)).some((e) => e.event_id === creation?.event_id)).toBe(
      false,
    );
  });

  it('shows a TenantCreated stored without a tenant in its metadata (as older versions wrote it)', async () => {
    const slug = uniqueSlug('older');
    const tenantId = await tenantIdForSlug(slug);
    const appended = await t.store.append(
      tenantStreamId(tenantId),
      [
        {
          id: crypto.randomUUID(),
          type: 'TenantCreated',
          data: { tenantId, slug, name: 'Older', plan: 'basic', at: new Date().toISOString() },
          metadata: { requestId: 'req-older' },
        },
      ],
      { expected: 'no_stream' },
    );
    expect(await t.engine.waitFor(['tenantList', 'auditEntries'], appended.position, 5000)).toBe(true);
    const owner = await t.user({ tenant: slug, role: 'owner' });
    const creation = (await audit(owner, appended.position.toString())).find(
      (e) => e.type === 'TenantCreated',
    );
    expect(creation).toMatchObject({ tenant_id: tenantId, request_id: 'req-older' });
    const theirs = await audit(outsider, appended.position.toString());
    expect(theirs.some((e) => e.event_id === creation?.event_id)).toBe(false);
    // The outsider's trail starts with its own tenant's creation instead.
    expect(theirs.find((e) => e.type === 'TenantCreated')).toMatchObject({ tenant_id: outsider.tenantId });
  });
});
