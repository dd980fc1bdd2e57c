import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

type Entry = { type: string; summary: string; client_address: string | null; stream_id: string };

/** `warden_login_failures_total{reason="…"}` as `/metrics` shows it (0 when absent). */
const failures = (text: string, reason: string) =>
  Number(
    new RegExp(`^warden_login_failures_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0,
  );

describe('sign-in outcomes: failures counted by reason, a lockout recorded once', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  beforeAll(async () => {
    t = await testApp(freshPGlite, {
      env: {
        WARDEN_TRUSTED_PROXY_HOPS: '1',
        WARDEN_LOGIN_FREE_FAILURES: '2',
        WARDEN_LOGIN_BACKOFF_BASE_MS: '60000',
      },
    });
    server = await t.listening();
  });
  afterAll(async () => {
    await server.close();
    await t.dispose();
  });

  const metrics = async () => (await server.request('/metrics')).text();

  it('counts wrong passwords and throttled attempts, and records one LoginLockedOut per lockout', async () => {
    const owner = await t.user({ role: 'owner' });
    const victim = await t.user({ tenant: owner.tenantSlug });
    const before = await metrics();
    const attempt = () =>
      server.request('/v1/auth/login', {
        tenant: owner.tenantSlug,
        json: { email: victim.email, password: 'not-the-password' },
        headers: { 'x-forwarded-for': '192.0.2.44' },
      });
    // Two free failures, the third starts the backoff, the fourth waits (429) and extends nothing.
    for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);
    expect((await attempt()).status).toBe(429);
    expect((await attempt()).status).toBe(429);
    const after = await metrics();
    expect(failures(after, 'invalid_credentials') - failures(before, 'invalid_credentials')).toBe(3);
    expect(failures(after, 'throttled') - failures(before, 'throttled')).toBe(2);

    let lockouts: Entry[] = [];
    const deadline = Date.now() + 5000;
    while (lockouts.length === 0 && Date.now() < deadline) {
      const res = await server.request('/v1/audit?type=LoginLockedOut', {
        token: owner.token,
        tenant: owner.tenantSlug,
      });
      expect(res.status, await res.clone().text()).toBe(200);
      lockouts = ((await res.json()) as { items: Entry[] }).items;
      if (lockouts.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(lockouts).toHaveLength(1);
    expect(lockouts[0]?.client_address).toBe('192.0.2.44');
    // The entry names no email: the account is its keyed claim id.
    expect(JSON.stringify(lockouts)).not.toContain(victim.email);
    // Another tenant's auditor does not see it.
    const stranger = await t.user({ role: 'owner' });
    const theirs = await server.request('/v1/audit?type=LoginLockedOut', {
      token: stranger.token,
      tenant: stranger.tenantSlug,
    });
    expect(((await theirs.json()) as { items: Entry[] }).items).toEqual([]);
  });
});
