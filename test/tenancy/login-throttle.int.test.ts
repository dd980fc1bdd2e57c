import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tooManyRequests } from '../../src/http/middleware/rate-limit.ts';
import { type LoginThrottleConfig, loginThrottle } from '../../src/identity/throttle.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

const config: LoginThrottleConfig = {
  maxAttemptsPerAccount: 5,
  maxAttemptsPerAddress: 8,
  windowSeconds: 900,
  freeFailures: 2,
  backoffBaseMs: 1000,
  backoffMaxMs: 8000,
};

for (const kind of databaseKinds) {
  describe(`login throttling (${kind.name})`, () => {
    let fresh: TestDatabase;
    let now = Date.parse('2026-03-01T12:00:00Z');
    const clock = () => new Date(now);
    const account = () => ({ tenantId: randomUUID(), email: `${randomUUID()}@example.com` });
    let throttle: ReturnType<typeof loginThrottle>;

    beforeAll(async () => {
      fresh = await kind.fresh();
      throttle = loginThrottle(fresh.database.db, config, clock);
    });
    afterAll(async () => {
      await fresh?.dispose();
    });

    it('lets exactly the limit through when 50 wrong passwords for one account arrive at once', async () => {
      const key = account();
      const decisions = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const decision = await throttle.checkLogin(key);
          if (decision.allowed) await throttle.recordFailure(key);
          return decision;
        }),
      );
      expect(decisions.filter((d) => d.allowed)).toHaveLength(config.maxAttemptsPerAccount);
      const refused = decisions.filter((d) => !d.allowed);
      expect(refused).toHaveLength(50 - config.maxAttemptsPerAccount);
      for (const d of refused) expect(d.allowed === false && d.retryAfterSeconds).toBeGreaterThan(0);
    });

    it('takes one account signing in from one address many times at once without a deadlock', async () => {
      // A check takes the account's row, then the address's; a success must clear them in the same
      // order. It used to update the address first and delete the account last (a data-modifying CTE
      // runs after the main statement), and two such sign-ins met in a deadlock: a 500 for a good password.
      const many = loginThrottle(
        fresh.database.db,
        { ...config, maxAttemptsPerAccount: 100_000, maxAttemptsPerAddress: 100_000 },
        clock,
      );
      const key = { ...account(), address: `192.0.2.${Math.floor(Math.random() * 250)}-${randomUUID()}` };
      const signIns = await Promise.allSettled(
        Array.from({ length: 12 }, async () => {
          for (let i = 0; i < 40; i++) {
            expect(await many.checkLogin(key)).toEqual({ allowed: true });
            await many.recordSuccess(key);
          }
        }),
      );
      expect(
        signIns
          .filter((s) => s.status === 'rejected')
          .map((s) => String((s as PromiseRejectedResult).reason)),
      ).toEqual([]);
    });

    it('lets in two first attempts whose clocks were read in the other order than they reach the database', async () => {
      // Two sign-ins of one account read the clock, then race to the database: the later reading
      // arrives first. With no failure yet there is no backoff, so the earlier reading must pass too
      // (it used to get a 429 because the first attempt had set the wait to its own, later, time).
      const key = account();
      const later = now + 5;
      let reading = later;
      const racing = loginThrottle(fresh.database.db, config, () => new Date(reading));
      expect(await racing.checkLogin(key)).toEqual({ allowed: true });
      reading = later - 5;
      expect(await racing.checkLogin(key)).toEqual({ allowed: true });
    });

    it('backs off exponentially after the free failures, then refuses until the window ends', async () => {
      const key = account();
      const fail = async () => {
        const decision = await throttle.checkLogin(key);
        if (decision.allowed) await throttle.recordFailure(key);
        return decision;
      };
      expect(await fail()).toEqual({ allowed: true });
      expect(await fail()).toEqual({ allowed: true });
      // Third failure: 1 s backoff before the next attempt.
      expect(await fail()).toEqual({ allowed: true });
      expect(await throttle.checkLogin(key)).toEqual({ allowed: false, retryAfterSeconds: 1 });
      now += 1000;
      expect(await fail()).toEqual({ allowed: true });
      expect(await throttle.checkLogin(key)).toEqual({ allowed: false, retryAfterSeconds: 2 });
      now += 2000;
      expect(await fail()).toEqual({ allowed: true });
      // Fifth attempt used: the limit holds until the window (900 s from the first attempt) ends.
      now += 60_000;
      const locked = await throttle.checkLogin(key);
      expect(locked).toEqual({ allowed: false, retryAfterSeconds: 900 - 63 });
      now += 900_000;
      expect(await throttle.checkLogin(key)).toEqual({ allowed: true });
    });

    it('answers the lock only for the failure that starts it, not for those that extend it', async () => {
      const key = account();
      const locks: (Date | undefined)[] = [];
      for (let i = 0; i < 5; i++) {
        expect((await throttle.checkLogin(key)).allowed).toBe(true);
        locks.push((await throttle.recordFailure(key))?.lockedUntil);
        now += 10_000;
      }
      // freeFailures is 2: the third failure starts the 1 s backoff; the fourth and fifth extend it.
      expect(locks.map((l) => l !== undefined)).toEqual([false, false, true, false, false]);
      expect(locks[2]?.getTime()).toBe(now - 30_000 + 1000);
    });

    it('clears an account after a good password', async () => {
      const key = account();
      for (let i = 0; i < 4; i++) {
        expect((await throttle.checkLogin(key)).allowed).toBe(true);
        await throttle.recordFailure(key);
        now += 10_000;
      }
      await throttle.checkLogin(key);
      await throttle.recordSuccess(key);
      for (let i = 0; i < config.maxAttemptsPerAccount; i++) {
        expect((await throttle.checkLogin(key)).allowed).toBe(true);
      }
    });

    it('limits one client address across many accounts', async () => {
      const address = `198.51.100.${Math.floor(Math.random() * 250)}-${randomUUID()}`;
      const results: boolean[] = [];
      for (let i = 0; i < 12; i++) {
        const key = { ...account(), address };
        const decision = await throttle.checkLogin(key);
        results.push(decision.allowed);
        if (decision.allowed) await throttle.recordFailure(key);
      }
      expect(results.filter(Boolean)).toHaveLength(config.maxAttemptsPerAddress);
      expect(results.slice(config.maxAttemptsPerAddress).every((a) => !a)).toBe(true);
    });

    it('spends no attempt of the address on an account that is refused, and answers the address wait when the address is', async () => {
      const address = `203.0.113.${Math.floor(Math.random() * 250)}-${randomUUID()}`;
      const locked = { ...account(), address };
      for (let i = 0; i < config.maxAttemptsPerAccount; i++) {
        expect((await throttle.checkLogin(locked)).allowed).toBe(true);
      }
      // Refused for the account (its limit is spent): the address keeps all of its attempts.
      for (let i = 0; i < 3; i++) expect((await throttle.checkLogin(locked)).allowed).toBe(false);
      const others = config.maxAttemptsPerAddress - config.maxAttemptsPerAccount;
      for (let i = 0; i < others; i++) {
        expect((await throttle.checkLogin({ ...account(), address })).allowed).toBe(true);
      }
      // Now the address is spent: a fresh account behind it is refused until the window ends.
      const refused = await throttle.checkLogin({ ...account(), address });
      expect(refused).toEqual({ allowed: false, retryAfterSeconds: config.windowSeconds });
    });

    it('gives the address its attempt back and clears the account after a good password, in one step', async () => {
      const address = `192.0.2.${Math.floor(Math.random() * 250)}-${randomUUID()}`;
      const key = { ...account(), address };
      for (let i = 0; i < config.maxAttemptsPerAddress; i++) {
        expect((await throttle.checkLogin(key)).allowed).toBe(true);
        await throttle.recordSuccess(key);
      }
      // Every success handed its attempt back: the address is not spent, nor is the account.
      expect((await throttle.checkLogin({ ...account(), address })).allowed).toBe(true);
      expect((await throttle.checkLogin(key)).allowed).toBe(true);
    });

    it('answers 429 with Retry-After over HTTP once a login route has let the limit through', async () => {
      // The shape the login route takes: check before verifying, record after; every password is wrong here.
      const app = new Hono();
      const tenantId = randomUUID();
      app.post('/v1/auth/login', async (c) => {
        const { email } = (await c.req.json()) as { email: string };
        const key = { tenantId, email, address: '203.0.113.7' };
        const decision = await throttle.checkLogin(key);
        if (!decision.allowed) return tooManyRequests(c, decision.retryAfterSeconds, 'too many attempts');
        await throttle.recordFailure(key);
        return c.json({ error: 'invalid credentials' }, 401);
      });
      const responses = await Promise.all(
        Array.from({ length: 50 }, () =>
          app.request('/v1/auth/login', {
            method: 'POST',
            body: JSON.stringify({ email: 'Ann@Example.com' }),
          }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 401)).toHaveLength(config.maxAttemptsPerAccount);
      const refused = responses.filter((r) => r.status === 429);
      expect(refused).toHaveLength(50 - config.maxAttemptsPerAccount);
      for (const r of refused) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(r.headers.get('content-type')).toBe('application/problem+json');
      }
    });

    it('sweeps records whose window has passed', async () => {
      const key = account();
      await throttle.checkLogin(key);
      now += 3_600_000;
      expect(await throttle.sweep()).toBeGreaterThan(0);
    });
  });
}
