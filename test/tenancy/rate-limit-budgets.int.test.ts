import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpServer, listen } from '../../src/runtime/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/**
 * Finding 4: anonymous requests naming a tenant must not spend that tenant's budget. Over real HTTP,
 * behind one trusted proxy, so each caller's address comes from X-Forwarded-For.
 */
describe('rate-limit budgets: per principal, and per address for anonymous callers', () => {
  let t: TestApp;
  let server: HttpServer;
  let base: string;
  let alice: SignedInUser;
  let bob: SignedInUser;
  const ANON_LIMIT = 100;
  const ATTACKER = '203.0.113.7';

  beforeAll(async () => {
    // One instant for the whole file: every request falls in the same rate-limit window.
    const now = new Date();
    t = await testApp(freshPGlite, {
      clock: () => now,
      env: { WARDEN_TRUSTED_PROXY_HOPS: '1', WARDEN_ANON_RATE_PER_MINUTE: String(ANON_LIMIT) },
    });
    server = await listen(t.app.fetch, { port: 0, hostname: '127.0.0.1' });
    base = `http://127.0.0.1:${server.port}`;
    // The free plan: 120 requests per minute.
    await t.tenant('globex', 'free');
    alice = await t.user({ tenant: 'globex', role: 'admin' });
    bob = await t.user({ tenant: 'globex', role: 'member' });
  });
  afterAll(async () => {
    await server?.close(1000);
    await t?.dispose();
  });

  const call = (path: string, from: string, init: { token?: string; json?: unknown } = {}) =>
    fetch(`${base}${path}`, {
      method: init.json === undefined ? 'GET' : 'POST',
      headers: {
        'x-tenant': 'globex',
        'x-forwarded-for': from,
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });

  it("spends only the caller's address budget on 125 anonymous requests, never the tenant's or its users'", async () => {
    const statuses: number[] = [];
    let refusal: { headers: Headers; body: LooseJson } | undefined;
    for (let i = 0; i < 125; i++) {
      const res = await call('/v1/users', ATTACKER);
      statuses.push(res.status);
      if (res.status === 429 && !refusal) refusal = { headers: res.headers, body: await res.json() };
      else await res.body?.cancel();
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(ANON_LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(125 - ANON_LIMIT);
    expect(refusal?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(refusal?.headers.get('ratelimit-limit')).toBe(String(ANON_LIMIT));
    expect(refusal?.body.detail).toMatch(/address/);

    // A bad token from that address is anonymous traffic too: refused by the address budget.
    const forged = await call('/v1/users', ATTACKER, { token: 'not-a-token' });
    expect(forged.status).toBe(429);

    // Globex's users still work, even from the attacker's address (a shared NAT).
    const own = await call('/v1/me', ATTACKER, { token: alice.token });
    expect(own.status).toBe(200);
    expect(own.headers.get('ratelimit-limit')).toBe('120');
    // And a login from another address is admitted.
    const login = await call('/v1/auth/login', '198.51.100.9', {
      json: { email: bob.email, password: bob.password },
    });
    expect(login.status).toBe(200);
  });

  it("gives each user of a tenant their own plan budget: one user's burst leaves the other untouched", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 121; i++) {
      const res = await call('/v1/me', '198.51.100.20', { token: alice.token });
      statuses.push(res.status);
      await res.body?.cancel();
    }
    // alice spent one request of her window above: 119 more pass.
    expect(statuses.filter((s) => s === 200)).toHaveLength(119);
    expect(statuses.slice(119)).toEqual([429, 429]);
    const refused = await call('/v1/me', '198.51.100.20', { token: alice.token });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as LooseJson).detail).toMatch(/per principal|each (user|caller)/);

    const other = await call('/v1/me', '198.51.100.20', { token: bob.token });
    expect(other.status).toBe(200);
    expect(Number(other.headers.get('ratelimit-remaining'))).toBeGreaterThan(100);
  });
});
