import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientStreamId } from '../../src/commands/oauth/index.ts';
import { randomToken, sha256 } from '../../src/identity/index.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { acrossProcesses } from '../support/visibility.ts';
import { basic, form, machineClientSettings, oauthFixture } from './support.ts';

// Finding 2: an OAuth client must never hold more than the caller who registered or changed it, a
// client-credentials token never acts as the owner, and narrowing a client narrows its live tokens.
// Everything goes over real HTTP, to two listening apps on one database (two processes' caches).
const SYNC_MS = 300;

describe('OAuth client scopes stay within what the registering caller holds', () => {
  let t: TestApp;
  let one: Awaited<ReturnType<TestApp['listening']>>;
  let two: Awaited<ReturnType<TestApp['listening']>>;
  beforeAll(async () => {
    t = await testApp(freshPGlite, { env: { WARDEN_REVOCATION_SYNC_MS: String(SYNC_MS) } });
    one = await t.listening();
    two = await t.listening(t.variantApp());
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    await t?.dispose();
  });

  const eventsOf = async (tenantId: string) =>
    Number(
      (
        await sql<{ n: string }>`
          select count(*) as n from warden_events where metadata->>'tenantId' = ${tenantId}`.execute(
          t.database.db,
        )
      ).rows[0]?.n,
    );
  const fixture = () => oauthFixture({ ...t, request: one.request });
  const tokenOf = async (
    request: TestApp['request'],
    slug: string,
    client: LooseJson,
    fields: Record<string, string>,
  ) => {
    const res = await request(`/t/${slug}/oauth/token`, {
      ...form(fields),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(client.client_id, client.client_secret),
      },
    });
    return { status: res.status, body: (await res.json()) as LooseJson };
  };

  it('an admin without tenant:manage cannot register or widen a client to tenant:manage: 403 naming it, nothing appended', async () => {
    const o = await fixture();
    const admin = await t.user({ tenant: o.tenant.slug, role: 'admin' });
    const existing = await o.registerClient({
      name: 'Portal',
      redirect_uris: ['https://app.example.com/cb'],
      scopes: ['openid', 'users:read'],
    });
    const before = await eventsOf(o.tenant.id);
    const registered = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: admin.token,
      json: {
        name: 'Escalator',
        grant_types: ['client_credentials'],
        scopes: ['tenant:manage', 'users:read'],
      },
    });
    expect(registered.status).toBe(403);
    expect(registered.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await registered.json()) as LooseJson;
    expect(problem.errors).toEqual([{ path: 'scopes', message: expect.stringContaining('tenant:manage') }]);
    expect(problem.errors[0].message).not.toContain('users:read');

    const widened = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients/${existing.client_id}`, {
      method: 'PATCH',
      token: admin.token,
      json: { scopes: ['openid', 'tenant:manage'] },
    });
    expect(widened.status).toBe(403);
    expect(((await widened.json()) as LooseJson).errors[0].path).toBe('scopes');
    expect(await eventsOf(o.tenant.id)).toBe(before);

    // What the admin holds is fine.
    const fine = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: admin.token,
      json: { name: 'Bot', grant_types: ['client_credentials'], scopes: ['users:manage'] },
    });
    expect(fine.status).toBe(201);
  });

  it('a caller acting through a narrowed token grants only what that token may do', async () => {
    const o = await fixture();
    const admin = await t.user({ tenant: o.tenant.slug, role: 'admin' });
    const tool = await o.registerClient({
      name: 'Admin tool',
      grant_types: ['password'],
      scopes: ['clients:manage'],
    });
    const narrowed = await tokenOf(one.request, o.tenant.slug, tool, {
      grant_type: 'password',
      username: admin.email,
      password: admin.password,
      scope: 'clients:manage',
    });
    expect(narrowed.status).toBe(200);
    const before = await eventsOf(o.tenant.id);
    const refused = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: narrowed.body.access_token,
      json: { name: 'Bot', grant_types: ['client_credentials'], scopes: ['users:manage'] },
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as LooseJson).errors).toEqual([
      { path: 'scopes', message: expect.stringContaining('users:manage') },
    ]);
    expect(await eventsOf(o.tenant.id)).toBe(before);
    const allowed = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: narrowed.body.access_token,
      json: { name: 'Bot', grant_types: ['client_credentials'], scopes: ['clients:manage'] },
    });
    expect(allowed.status).toBe(201);
  });

  it('client-credentials clients never get owner-only scopes; one registered before is refused or stripped at the token endpoint', async () => {
    const o = await fixture();
    const before = await eventsOf(o.tenant.id);
    const refused = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: o.owner.token,
      json: {
        name: 'Owner bot',
        grant_types: ['client_credentials'],
        scopes: ['users:manage', 'tenant:manage'],
      },
    });
    expect(refused.status).toBe(422);
    const problem = (await refused.json()) as LooseJson;
    expect(problem.errors).toEqual([{ path: 'scopes', message: expect.stringContaining('tenant:manage') }]);
    expect(await eventsOf(o.tenant.id)).toBe(before);
    const fine = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients`, {
      token: o.owner.token,
      json: { name: 'Owner bot', grant_types: ['client_credentials'], scopes: ['users:manage'] },
    });
    expect(fine.status).toBe(201);

    // A client registered before this rule held (its event written as it was then).
    const clientId = crypto.randomUUID();
    const secret = randomToken(256);
    const at = new Date().toISOString();
    await t.store.append(
      clientStreamId(clientId),
      [
        {
          id: crypto.randomUUID(),
          type: 'OAuthClientRegistered',
          data: {
            clientId,
            tenantId: o.tenant.id,
            type: 'confidential',
            ...machineClientSettings,
            name: 'Legacy bot',
            scopes: ['tenant:read', 'tenant:manage'],
            secretHash: await sha256(secret),
            at,
          },
          metadata: { tenantId: o.tenant.id, actorId: o.owner.userId },
        },
      ],
      { expected: 'no_stream' },
    );
    const legacy = { client_id: clientId, client_secret: secret };
    const asked = await tokenOf(one.request, o.tenant.slug, legacy, {
      grant_type: 'client_credentials',
      scope: 'tenant:manage',
    });
    expect(asked).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    const defaulted = await tokenOf(one.request, o.tenant.slug, legacy, { grant_type: 'client_credentials' });
    expect(defaulted.status).toBe(200);
    expect(defaulted.body.scope).toBe('tenant:read');
    const open = await one.request(`/t/${o.tenant.slug}/v1/signup-policy`, {
      method: 'PUT',
      token: defaulted.body.access_token,
      json: { policy: 'open' },
    });
    expect(open.status).toBe(403);
  });

  it('narrowing a client narrows its live tokens: here at once, in another process by its sync', async () => {
    const o = await fixture();
    const person = await t.user({ tenant: o.tenant.slug, role: 'owner' });
    const client = await o.registerClient({
      name: 'Reporting',
      grant_types: ['client_credentials', 'password'],
      scopes: ['packages:read', 'tracker:read'],
    });
    const machine = await tokenOf(one.request, o.tenant.slug, client, { grant_type: 'client_credentials' });
    const user = await tokenOf(one.request, o.tenant.slug, client, {
      grant_type: 'password',
      username: person.email,
      password: person.password,
      scope: 'packages:read tracker:read',
    });
    const tokens = [machine.body.access_token as string, user.body.access_token as string];
    const status = async (app: typeof one, path: string, token: string) =>
      (await app.request(`/t/${o.tenant.slug}${path}`, { token })).status;
    for (const app of [one, two]) {
      for (const token of tokens) {
        expect(await status(app, '/v1/projects', token)).toBe(200);
        expect(await status(app, '/v1/packages', token)).toBe(200);
      }
    }
    const narrowed = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients/${client.client_id}`, {
      method: 'PATCH',
      token: o.owner.token,
      json: { scopes: ['packages:read'] },
    });
    expect(narrowed.status).toBe(200);
    for (const token of tokens) {
      expect(await status(one, '/v1/projects', token)).toBe(403);
      expect(await status(one, '/v1/packages', token)).toBe(200);
    }
    const introspected = await one.request(`/t/${o.tenant.slug}/oauth/introspect`, {
      ...form({ token: machine.body.access_token }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(client.client_id, client.client_secret),
      },
    });
    expect(await introspected.json()).toMatchObject({ active: true, scope: 'packages:read' });
    for (const token of tokens) {
      await expect.poll(() => status(two, '/v1/projects', token), acrossProcesses).toBe(403);
      expect(await status(two, '/v1/packages', token)).toBe(200);
    }

    // Deleting the client ends its tokens (here at once, there by the sync).
    const deleted = await one.request(`/t/${o.tenant.slug}/v1/oauth/clients/${client.client_id}`, {
      method: 'DELETE',
      token: o.owner.token,
    });
    expect(deleted.status).toBe(204);
    for (const token of tokens) expect(await status(one, '/v1/packages', token)).toBe(401);
    for (const token of tokens) {
      await expect.poll(() => status(two, '/v1/packages', token), acrossProcesses).toBe(401);
    }
  });
});
