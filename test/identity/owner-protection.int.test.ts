import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStreamId } from '../../src/commands/identity/index.ts';
import { type HttpServer, listen } from '../../src/runtime/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/**
 * Only an owner of the tenant (or the platform superadmin) may remove, erase or demote an owner: an
 * admin holds `users:manage`, but that stops at the owners. Driven over real HTTP against the service
 * listening on loopback, as an attacker holding an admin's token would.
 */
describe('owners are protected from admins (over HTTP)', () => {
  let t: TestApp;
  let server: HttpServer;
  let base = '';

  beforeAll(async () => {
    t = await testApp(freshPGlite);
    server = await listen(t.app.fetch, { port: 0, hostname: '127.0.0.1' });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close(1000);
    await t.dispose();
  });

  const send = (slug: string, as: SignedInUser, method: string, path: string, json?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${as.token}`,
        'x-tenant': slug,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
  /** A tenant with two owners (so the last-owner rule is not what refuses) and an admin, signed in. */
  const tenantWithOwners = async () => {
    const { slug } = await t.tenant();
    const owner = await t.user({ tenant: slug, role: 'owner' });
    const other = await t.user({ tenant: slug, role: 'owner' });
    const admin = await t.user({ tenant: slug, role: 'admin' });
    return { slug, owner, other, admin };
  };
  const eventsOf = async (userId: string) => (await t.store.readStream(userStreamId(userId))).length;
  /** The owner is still an owner of the tenant and can still sign in. */
  const stillOwner = async (slug: string, owner: SignedInUser, reader: SignedInUser) => {
    const res = await send(slug, reader, 'GET', `/v1/users/${owner.userId}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ role: 'owner', status: 'active' });
    await t.login(slug, owner.email, owner.password);
  };

  it('an admin cannot remove an owner: 403 problem, nothing appended, the owner still signs in', async () => {
    const { slug, other, admin } = await tenantWithOwners();
    const before = await eventsOf(other.userId);
    const res = await send(slug, admin, 'DELETE', `/v1/users/${other.userId}`);
    expect(res.status, await res.clone().text()).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await eventsOf(other.userId)).toBe(before);
    await stillOwner(slug, other, admin);
  });

  it('an admin cannot erase an owner: 403 problem, nothing appended, the owner still signs in', async () => {
    const { slug, other, admin } = await tenantWithOwners();
    const before = await eventsOf(other.userId);
    const res = await send(slug, admin, 'POST', `/v1/users/${other.userId}/erase`);
    expect(res.status, await res.clone().text()).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await eventsOf(other.userId)).toBe(before);
    await stillOwner(slug, other, admin);
  });

  it('an admin cannot demote an owner: 403 problem, nothing appended, the owner still signs in', async () => {
    const { slug, other, admin } = await tenantWithOwners();
    const before = await eventsOf(other.userId);
    const res = await send(slug, admin, 'PATCH', `/v1/users/${other.userId}`, { role: 'member' });
    expect(res.status, await res.clone().text()).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await eventsOf(other.userId)).toBe(before);
    await stillOwner(slug, other, admin);
  });

  it('an admin cannot erase an owner another owner removed (their role is still owner)', async () => {
    const { slug, owner, other, admin } = await tenantWithOwners();
    expect((await send(slug, owner, 'DELETE', `/v1/users/${other.userId}`)).status).toBe(204);
    const before = await eventsOf(other.userId);
    const res = await send(slug, admin, 'POST', `/v1/users/${other.userId}/erase`);
    expect(res.status, await res.clone().text()).toBe(403);
    expect(await eventsOf(other.userId)).toBe(before);
    expect((await send(slug, owner, 'POST', `/v1/users/${other.userId}/erase`)).status).toBe(200);
  });

  it('an owner demotes, removes and erases another owner', async () => {
    const { slug, owner, other } = await tenantWithOwners();
    const demote = await send(slug, owner, 'PATCH', `/v1/users/${other.userId}`, { role: 'admin' });
    expect(demote.status, await demote.clone().text()).toBe(200);
    expect(await demote.json()).toMatchObject({ role: 'admin' });
    const promote = await send(slug, owner, 'PATCH', `/v1/users/${other.userId}`, { role: 'owner' });
    expect(promote.status).toBe(200);
    expect((await send(slug, owner, 'DELETE', `/v1/users/${other.userId}`)).status).toBe(204);
    const third = await t.user({ tenant: slug, role: 'owner' });
    expect((await send(slug, owner, 'POST', `/v1/users/${third.userId}/erase`)).status).toBe(200);
    await expect(t.login(slug, third.email, third.password)).rejects.toThrow(/401/);
  });

  it('the platform superadmin demotes, removes and erases an owner of any tenant', async () => {
    const { slug, owner, other } = await tenantWithOwners();
    const root = await t.superadmin();
    const demote = await send(slug, root, 'PATCH', `/v1/users/${other.userId}`, { role: 'member' });
    expect(demote.status, await demote.clone().text()).toBe(200);
    await send(slug, owner, 'PATCH', `/v1/users/${other.userId}`, { role: 'owner' });
    const third = await t.user({ tenant: slug, role: 'owner' });
    expect((await send(slug, root, 'DELETE', `/v1/users/${other.userId}`)).status).toBe(204);
    expect((await send(slug, root, 'POST', `/v1/users/${third.userId}/erase`)).status).toBe(200);
    await t.login(slug, owner.email, owner.password);
  });

  it('the last owner stays protected, even from themselves and the superadmin (409)', async () => {
    const { slug } = await t.tenant();
    const owner = await t.user({ tenant: slug, role: 'owner' });
    const root = await t.superadmin();
    expect((await send(slug, owner, 'DELETE', `/v1/users/${owner.userId}`)).status).toBe(409);
    expect((await send(slug, root, 'POST', `/v1/users/${owner.userId}/erase`)).status).toBe(409);
    expect((await send(slug, root, 'PATCH', `/v1/users/${owner.userId}`, { role: 'admin' })).status).toBe(
      409,
    );
    await t.login(slug, owner.email, owner.password);
  });
});
