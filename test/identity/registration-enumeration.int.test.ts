import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStreamId } from '../../src/commands/identity/index.ts';
import type { PlanId } from '../../src/commands/tenancy/index.ts';
import { type HttpServer, listen } from '../../src/runtime/index.ts';
import type { TestApp } from '../support/app.ts';
import { testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/**
 * Self-registration must not tell a taken email from a free one: the tenant's sign-up policy is
 * answered first (closed: the same 403 for both), and where sign-up is allowed a taken email gets
 * exactly the answer a new one gets (status, headers, body), while only the new one gets an account.
 * Driven over real HTTP against the service listening on loopback.
 */
describe('registration does not reveal which emails exist (over HTTP)', () => {
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

  const newPassword = 'plum-orbit-kettle-47';
  const register = (slug: string, email: string, password = newPassword) =>
    fetch(`${base}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': slug },
      body: JSON.stringify({ email, password, name: 'Someone' }),
    });
  /** A tenant with the policy set (by its owner) and one existing member. */
  const tenantWith = async (policy: 'open' | 'approval' | 'closed', plan: PlanId = 'enterprise') => {
    const { slug } = await t.tenant(undefined, plan);
    const owner = await t.user({ tenant: slug, role: 'owner' });
    const set = await fetch(`${base}/v1/signup-policy`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${owner.token}`,
        'x-tenant': slug,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ policy }),
    });
    expect(set.status).toBe(200);
    const existing = await t.user({ tenant: slug, role: 'member' });
    return { slug, owner, existing };
  };
  // Per request by nature: the date, the request id, the rate limiter's count.
  const PER_REQUEST = new Set(['date', 'x-request-id', 'ratelimit-remaining', 'ratelimit-reset']);
  /** What a client can observe of an answer, less what differs between any two requests. */
  const observed = async (res: Response) => ({
    status: res.status,
    headers: [...res.headers].filter(([name]) => !PER_REQUEST.has(name.toLowerCase())),
    body: await res.text(),
  });
  const streamOf = async (userId: string) =>
    (await t.store.readStream(userStreamId(userId))).map((e) => e.type);
  const eventCount = async () => (await t.store.readAll()).length;
  const fresh = () => `new.${crypto.randomUUID().slice(0, 8)}@example.com`;

  it('closed tenant: a taken and a new email get the same 403, and nothing is appended', async () => {
    const { slug, existing } = await tenantWith('closed');
    const before = await eventCount();
    const taken = await observed(await register(slug, existing.email));
    const free = await observed(await register(slug, fresh()));
    expect(taken.status, taken.body).toBe(403);
    expect(taken).toEqual(free);
    expect(await eventCount()).toBe(before);
  });

  it('open tenant: a taken and a new email get the same 202; the new one signs in, the taken one keeps its password', async () => {
    const { slug, existing } = await tenantWith('open');
    const mail = fresh();
    const history = await streamOf(existing.userId);
    const taken = await observed(await register(slug, existing.email));
    const free = await observed(await register(slug, mail));
    expect(free.status, free.body).toBe(202);
    expect(taken).toEqual(free);
    expect(JSON.parse(free.body)).toMatchObject({ status: 'accepted' });
    expect(free.headers.map(([name]) => name)).not.toContain('location');
    expect(await streamOf(existing.userId)).toEqual(history);
    // An open tenant's new account signs in once its email is verified (the taken one got no link).
    await t.verifyEmail(slug, mail);
    await t.login(slug, mail, newPassword);
    await t.login(slug, existing.email, existing.password);
    await expect(t.login(slug, existing.email, newPassword)).rejects.toThrow(/401/);
  });

  it('approval tenant: a taken and a new email get the same 202; only the new one waits for approval', async () => {
    const { slug, existing } = await tenantWith('approval');
    const mail = fresh();
    const history = await streamOf(existing.userId);
    const taken = await observed(await register(slug, existing.email));
    const free = await observed(await register(slug, mail));
    expect(free.status, free.body).toBe(202);
    expect(taken).toEqual(free);
    expect(await streamOf(existing.userId)).toEqual(history);
    await expect(t.login(slug, mail, newPassword)).rejects.toThrow(/login answered 4/);
    await t.login(slug, existing.email, existing.password);
  });

  it('full tenant (the plan’s user limit): a taken and a new email get the same refusal', async () => {
    const { slug, existing } = await tenantWith('open', 'free');
    for (let seats = 2; seats < 5; seats++) await t.user({ tenant: slug, role: 'member' });
    const before = await eventCount();
    const taken = await observed(await register(slug, existing.email));
    const free = await observed(await register(slug, fresh()));
    expect(free.status, free.body).toBe(409);
    expect(JSON.parse(free.body)).toMatchObject({ rule: 'user_limit' });
    expect(taken).toEqual(free);
    expect(await eventCount()).toBe(before);
  });
});
