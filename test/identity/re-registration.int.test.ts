import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantIdForSlug } from '../../src/commands/tenancy/index.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { personalDataStore } from '../../src/privacy/index.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { listen } from '../../src/runtime/index.ts';
import { serviceWorkers, waitUntil } from '../processes/support.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { appendLegacyUser } from './legacy-users.ts';

/**
 * Security finding 6: project roles survived a user's removal and passed to the next account
 * registered with that email, because the user id was derived from (tenant, email). Over a real
 * listening server: a re-registered email is a new person with a new id and no project role.
 */
describe('a removed user’s email, registered again', () => {
  let t: TestApp;
  let worker: Worker;
  let server: Awaited<ReturnType<typeof listen>>;
  let base: string;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    worker = await serviceWorkers(t);
    server = await listen(t.app.fetch, { port: 0, hostname: '127.0.0.1' });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close(1000);
    await worker.stop();
    await t.dispose();
  });

  const call = async (
    slug: string,
    path: string,
    init: { json?: unknown; method?: string; token?: string } = {},
  ) => {
    const headers: Record<string, string> = { 'x-tenant': slug };
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
      headers,
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  /** Registers over HTTP, signs in, and asks who it is: the id does not depend on the register answer. */
  const signUp = async (slug: string, email: string, password: string) => {
    const registered = await call(slug, '/v1/auth/register', { json: { email, password, name: 'Alice' } });
    expect(registered.status).toBe(202);
    await t.verifyEmail(slug, email);
    const login = await call(slug, '/v1/auth/login', { json: { email, password } });
    expect(login.status).toBe(200);
    const token = login.body.access_token as string;
    const me = await call(slug, '/v1/me', { token });
    return { token, userId: me.body.user_id as string };
  };

  it('gets a fresh id that inherits no project role, and the old memberships are removed with a reason', async () => {
    const { slug } = await t.tenant();
    const owner = await t.user({ tenant: slug, role: 'owner' });
    const password = `pw-${crypto.randomUUID()}`;
    const alice = await signUp(slug, 'alice@example.com', password);

    for (const key of ['RA', 'RB']) {
      expect(
        (await call(slug, '/v1/projects', { token: owner.token, json: { key, name: key } })).status,
      ).toBe(201);
      const set = await call(slug, `/v1/projects/${key}/members/${alice.userId}`, {
        token: owner.token,
        method: 'PUT',
        json: { role: 'member' },
      });
      expect(set.status).toBe(200);
    }
    const before = await call(slug, '/v1/projects/RA/issues', {
      token: alice.token,
      json: { title: 'mine' },
    });
    expect(before.status).toBe(201);

    expect(
      (await call(slug, `/v1/users/${alice.userId}`, { token: owner.token, method: 'DELETE' })).status,
    ).toBe(204);

    const again = await signUp(slug, 'alice@example.com', password);
    expect(again.userId).not.toBe(alice.userId);
    const attempt = await call(slug, '/v1/projects/RA/issues', {
      token: again.token,
      json: { title: 'theirs' },
    });
    expect(attempt.status).toBe(403);

    // The process manager takes the removed user off every project, once each, saying why.
    for (const key of ['RA', 'RB']) {
      await waitUntil(
        `${key} without the removed user`,
        async () => {
          const project = await call(slug, `/v1/projects/${key}`, { token: owner.token });
          const members = project.body.members as { user_id: string }[];
          return !members.some((m) => m.user_id === alice.userId);
        },
        30_000,
      );
      const projectId = (await call(slug, `/v1/projects/${key}`, { token: owner.token })).body.id as string;
      const removed = (await t.store.readStream(`tracker.Project-${projectId}`)).filter(
        (e) => e.type === 'ProjectMemberRemoved',
      );
      expect(removed).toHaveLength(1);
      expect(removed[0]!.data).toMatchObject({ userId: alice.userId, reason: 'member_left_tenant' });
      expect(removed[0]!.metadata.actorId).toBe('process:projectMemberships');
      const members = (await call(slug, `/v1/projects/${key}`, { token: owner.token })).body.members as {
        user_id: string;
      }[];
      expect(members.map((m) => m.user_id)).not.toContain(again.userId);
    }
  }, 180_000);

  it('a user registered before email claims (a derived id) still signs in with that id', async () => {
    const { slug } = await t.tenant();
    const tenantId = await tenantIdForSlug(slug);
    const [derived] = await t.identity.userIds!.candidates(tenantId, 'old@example.com');
    const password = `pw-${crypto.randomUUID()}`;
    const raw = personalDataStore(postgresEventStore(t.database), t.personalData);
    await appendLegacyUser(raw, t.identity.hasher, {
      tenantId,
      userId: derived,
      email: 'old@example.com',
      password,
    });

    const login = await call(slug, '/v1/auth/login', { json: { email: 'OLD@example.com', password } });
    expect(login.status).toBe(200);
    const me = await call(slug, '/v1/me', { token: login.body.access_token as string });
    expect(me.body.user_id).toBe(derived);
    // The email is still theirs.
    // A registration of it is answered as any other (202) and changes nothing: the impostor's
    // password does not sign in, the holder's still does.
    const taken = await call(slug, '/v1/auth/register', {
      json: { email: 'old@example.com', password: `${password}-impostor`, name: 'Impostor' },
    });
    expect(taken.status).toBe(202);
    expect(
      (
        await call(slug, '/v1/auth/login', {
          json: { email: 'old@example.com', password: `${password}-impostor` },
        })
      ).status,
    ).toBe(401);
    expect(
      (await call(slug, '/v1/auth/login', { json: { email: 'old@example.com', password } })).status,
    ).toBe(200);

    // Once removed, their email registers as a new person with a random id (not the derived one).
    const owner = await t.user({ tenant: slug, role: 'owner' });
    expect((await call(slug, `/v1/users/${derived}`, { token: owner.token, method: 'DELETE' })).status).toBe(
      204,
    );
    const again = await signUp(slug, 'old@example.com', password);
    expect(again.userId).not.toBe(derived);
    expect(await t.identity.userIds!.candidates(tenantId, 'old@example.com')).not.toContain(again.userId);
  }, 120_000);
});
