import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStreamId } from '../../src/commands/identity/index.ts';
import type { ReadAllOptions } from '../../src/eventstore/port.ts';
import { identityCredentials } from '../../src/identity/index.ts';
import { checkSignIn } from '../../src/oauth/index.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { linkIn, testSmtpServer } from '../support/smtp.ts';
import { readAllWritten } from '../support/visibility.ts';

const PUBLIC = 'https://warden.example.test';
const NEW_PASSWORD = 'lantern-quiver-basalt-93';

const problem = async (res: Response) => {
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  return (await res.json()) as LooseJson;
};

for (const kind of databaseKinds) {
  describe(`passwords (${kind.name})`, () => {
    let t: TestApp;
    let smtp: Awaited<ReturnType<typeof testSmtpServer>>;
    beforeAll(async () => {
      smtp = await testSmtpServer();
      t = await testApp(kind.fresh, {
        env: {
          WARDEN_SMTP_URL: smtp.url,
          WARDEN_MAIL_FROM: 'Warden <noreply@warden.example.test>',
          WARDEN_PUBLIC_URL: PUBLIC,
        },
      });
    });
    afterAll(async () => {
      await t.dispose();
      await smtp.close();
    });

    const me = (token: string, tenant: string) => t.request('/v1/me', { token, tenant });
    const loginAs = (tenant: string, email: string, password: string, extra: object = {}) =>
      t.request('/v1/auth/login', { tenant, json: { email, password, ...extra } });
    const userEvents = async (userId: string) =>
      (await t.store.readStream(userStreamId(userId))).map((e) => e.type);
    /** Asks for a reset link over HTTP and reads it from the mail the SMTP server received. */
    const forgot = async (slug: string, login: string, to = login, skip = 0) => {
      const res = await t.request('/v1/password/forgot', { tenant: slug, json: { login } });
      expect(res.status).toBe(202);
      const mail = await smtp.mailTo(to, skip);
      return { mail, link: linkIn(mail) };
    };
    /** Every event's data and metadata as text (personal fields opened, as the service reads them). */
    // Every event written so far, this test's last ones included (see readAllWritten).
    const written = (options?: ReadAllOptions) => readAllWritten(t.store, t.database.db, options);
    const allEventText = async () =>
      JSON.stringify((await written()).map((e) => [e.type, e.data, e.metadata]));
    const tokenOf = (link: URL) => new URLSearchParams(link.hash.slice(1)).get('token') ?? '';

    it('changes your own password with the current one: this sign-in stays, every other one ends', async () => {
      const ann = await t.user({ role: 'member' });
      const slug = ann.tenantSlug;
      const other = await t.login(slug, ann.email, ann.password);

      const wrong = await t.request('/v1/me/password', {
        token: ann.token,
        tenant: slug,
        json: { current_password: 'not-my-password-1', new_password: NEW_PASSWORD },
      });
      expect(wrong.status).toBe(403);
      const body = await problem(wrong);
      expect(body.type).toMatch(/wrong-password$/);
      expect(body.errors).toEqual([{ path: 'current_password', message: 'is not the current password' }]);
      expect(await userEvents(ann.userId)).toEqual(['UserRegistered']);

      const weak = await t.request('/v1/me/password', {
        token: ann.token,
        tenant: slug,
        json: { current_password: ann.password, new_password: 'password' },
      });
      expect(weak.status).toBe(400);
      expect((await problem(weak)).errors.map((e: { path: string }) => e.path)).toContain('new_password');

      const anonymous = await t.request('/v1/me/password', {
        tenant: slug,
        json: { current_password: ann.password, new_password: NEW_PASSWORD },
      });
      expect(anonymous.status).toBe(401);

      const changed = await t.request('/v1/me/password', {
        token: ann.token,
        tenant: slug,
        json: { current_password: ann.password, new_password: NEW_PASSWORD },
      });
      expect(changed.status, await changed.clone().text()).toBe(204);

      expect((await me(ann.token, slug)).status).toBe(200);
      expect((await me(other.access_token, slug)).status).toBe(401);
      const refreshed = await t.request('/v1/auth/refresh', {
        tenant: slug,
        json: { refresh_token: other.refresh_token },
      });
      expect(refreshed.status).toBe(401);
      expect((await loginAs(slug, ann.email, ann.password)).status).toBe(401);
      expect((await loginAs(slug, ann.email, NEW_PASSWORD)).status).toBe(200);

      expect(await userEvents(ann.userId)).toEqual(['UserRegistered', 'PasswordChanged']);
      const revoked = (await written({ types: ['TokenFamilyRevoked'] })).filter(
        (e) =>
          (e.data as { reason: string }).reason === 'password_changed' &&
          e.metadata.tenantId === ann.tenantId,
      );
      expect(revoked).toHaveLength(1);
      // No password in clear in any event.
      const everything = await allEventText();
      expect(everything).not.toContain(NEW_PASSWORD);
    });

    it('resets a forgotten password through a single-use link sent by mail, ending every sign-in', async () => {
      const bob = await t.user({ role: 'member' });
      const slug = bob.tenantSlug;
      const { mail, link } = await forgot(slug, bob.email);
      expect(mail.from).toBe('noreply@warden.example.test');
      expect(mail.headers.get('subject')).toContain('Reset your Warden password');
      expect(`${link.origin}${link.pathname}`).toBe(`${PUBLIC}/t/${slug}/password/reset`);
      const token = tokenOf(link);
      expect(token).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
      // Only the secret's hash is recorded.
      expect(await allEventText()).not.toContain(token.split('.')[1]);
      expect(await userEvents(bob.userId)).toEqual(['UserRegistered', 'PasswordResetRequested']);
      // The link opens a page (the token stays in the fragment, which browsers never send).
      const page = await t.request(link.pathname);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
      expect(await page.text()).toContain('../v1/password/reset');

      const reset = await t.request('/v1/password/reset', {
        tenant: slug,
        json: { token, password: NEW_PASSWORD },
      });
      expect(reset.status, await reset.clone().text()).toBe(204);
      expect((await me(bob.token, slug)).status).toBe(401);
      expect((await loginAs(slug, bob.email, bob.password)).status).toBe(401);
      expect((await loginAs(slug, bob.email, NEW_PASSWORD)).status).toBe(200);

      const again = await t.request('/v1/password/reset', {
        tenant: slug,
        json: { token, password: 'another-fine-password-7' },
      });
      expect(again.status).toBe(409);
      expect((await problem(again)).rule).toBe('reset_token_invalid');
      expect(await userEvents(bob.userId)).toEqual([
        'UserRegistered',
        'PasswordResetRequested',
        'PasswordReset',
      ]);
    });

    it('answers a forgot-password request alike for a known and an unknown login, and mails only the known', async () => {
      const cid = await t.user({ role: 'member' });
      const slug = cid.tenantSlug;
      const ghost = `ghost-${crypto.randomUUID().slice(0, 8)}@example.com`;
      const unknown = await t.request('/v1/password/forgot', { tenant: slug, json: { login: ghost } });
      const known = await t.request('/v1/password/forgot', { tenant: slug, json: { login: cid.email } });
      expect(unknown.status).toBe(202);
      expect(known.status).toBe(202);
      expect(await unknown.json()).toEqual(await known.json());
      await smtp.mailTo(cid.email);
      expect(smtp.mails.some((m) => m.to.includes(ghost))).toBe(false);
      const requested = await written({ types: ['PasswordResetRequested'] });
      expect(requested.filter((e) => e.metadata.tenantId === cid.tenantId)).toHaveLength(1);
    });

    it('refuses a link of another tenant, a superseded one, and a malformed token (409, nothing appended)', async () => {
      const dee = await t.user({ role: 'member' });
      const elsewhere = await t.tenant();
      const first = tokenOf((await forgot(dee.tenantSlug, dee.email)).link);
      const second = tokenOf((await forgot(dee.tenantSlug, dee.email, dee.email, 1)).link);
      expect(second).not.toBe(first);

      const crossTenant = await t.request('/v1/password/reset', {
        tenant: elsewhere.slug,
        json: { token: second, password: NEW_PASSWORD },
      });
      expect(crossTenant.status).toBe(409);
      const superseded = await t.request('/v1/password/reset', {
        tenant: dee.tenantSlug,
        json: { token: first, password: NEW_PASSWORD },
      });
      expect(superseded.status).toBe(409);
      const malformed = await t.request('/v1/password/reset', {
        tenant: dee.tenantSlug,
        json: { token: 'nope', password: NEW_PASSWORD },
      });
      expect(malformed.status).toBe(409);
      const missing = await t.request('/v1/password/reset', {
        tenant: dee.tenantSlug,
        json: { token: second },
      });
      expect(missing.status).toBe(400);
      expect((await problem(missing)).errors.map((e: { path: string }) => e.path)).toContain('password');
      expect(await userEvents(dee.userId)).toEqual([
        'UserRegistered',
        'PasswordResetRequested',
        'PasswordResetRequested',
      ]);
      const used = await t.request('/v1/password/reset', {
        tenant: dee.tenantSlug,
        json: { token: second, password: NEW_PASSWORD },
      });
      expect(used.status).toBe(204);
    });

    it('builds links from the public URL, never from the Host a stranger sends (reset poisoning)', async () => {
      const eve = await t.user({ role: 'member' });
      const res = await t.request('http://attacker.example.test/v1/password/forgot', {
        tenant: eve.tenantSlug,
        json: { login: eve.email },
      });
      expect(res.status).toBe(202);
      const link = linkIn(await smtp.mailTo(eve.email));
      expect(link.origin).toBe(PUBLIC);
    });

    it('lets an admin set a temporary password: shown once, sessions end, the next sign-in must choose a new one', async () => {
      const admin = await t.user({ role: 'admin' });
      const slug = admin.tenantSlug;
      const fay = await t.user({ tenant: slug, role: 'member' });

      const reset = await t.request(`/v1/users/${fay.userId}/password-reset`, {
        token: admin.token,
        tenant: slug,
        json: { delivery: 'temporary_password' },
      });
      expect(reset.status, await reset.clone().text()).toBe(200);
      expect(reset.headers.get('cache-control')).toBe('no-store');
      const answer = (await reset.json()) as LooseJson;
      expect(answer.sessions_revoked).toBe(1);
      const temporary = answer.temporary_password as string;
      expect(temporary).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect((await me(fay.token, slug)).status).toBe(401);
      expect(await allEventText()).not.toContain(temporary);

      expect((await loginAs(slug, fay.email, fay.password)).status).toBe(401);
      const required = await loginAs(slug, fay.email, temporary);
      expect(required.status).toBe(403);
      expect((await problem(required)).type).toMatch(/password-change-required$/);
      // The OAuth sign-in page refuses it too (the same credentials check, the real one).
      const page = await checkSignIn(
        {
          users: {
            verifyCredentials: identityCredentials({
              store: t.store,
              hasher: t.identity.hasher,
              clock: () => new Date(),
              userIds: t.identity.userIds,
            }),
            current: async () => undefined,
          },
        },
        { tenantId: fay.tenantId, email: fay.email, address: undefined },
        temporary,
      );
      expect(page).toMatchObject({ ok: false, message: expect.stringContaining('choose a new one') });
      const tooWeak = await loginAs(slug, fay.email, temporary, { new_password: '12345678' });
      expect(tooWeak.status).toBe(400);
      const chosen = await loginAs(slug, fay.email, temporary, { new_password: NEW_PASSWORD });
      expect(chosen.status, await chosen.clone().text()).toBe(200);
      const pair = (await chosen.json()) as LooseJson;
      expect((await me(pair.access_token, slug)).status).toBe(200);
      expect((await loginAs(slug, fay.email, temporary)).status).toBe(401);
      expect((await loginAs(slug, fay.email, NEW_PASSWORD)).status).toBe(200);
      const notPending = await loginAs(slug, fay.email, NEW_PASSWORD, { new_password: 'yet-another-one-42' });
      expect(notPending.status).toBe(409);
      expect(await userEvents(fay.userId)).toEqual([
        'UserRegistered',
        'PasswordResetByAdmin',
        'PasswordChanged',
      ]);
    });

    it('lets an admin send a reset link instead: the old password no longer signs in until a new one is chosen', async () => {
      const admin = await t.user({ role: 'admin' });
      const slug = admin.tenantSlug;
      const gus = await t.user({ tenant: slug, role: 'member' });
      const reset = await t.request(`/v1/users/${gus.userId}/password-reset`, {
        token: admin.token,
        tenant: slug,
        json: { delivery: 'email' },
      });
      expect(reset.status).toBe(200);
      const answer = (await reset.json()) as LooseJson;
      expect(answer.temporary_password).toBeUndefined();
      expect(Date.parse(answer.expires_at)).toBeGreaterThan(Date.now());
      const link = linkIn(await smtp.mailTo(gus.email));
      expect((await loginAs(slug, gus.email, gus.password)).status).toBe(403);
      const done = await t.request('/v1/password/reset', {
        tenant: slug,
        json: { token: tokenOf(link), password: NEW_PASSWORD },
      });
      expect(done.status).toBe(204);
      expect((await loginAs(slug, gus.email, NEW_PASSWORD)).status).toBe(200);
    });

    it('refuses an admin reset to a lower role (403), of another tenant’s user (404), of an owner by an admin (403)', async () => {
      const admin = await t.user({ role: 'admin' });
      const slug = admin.tenantSlug;
      const member = await t.user({ tenant: slug, role: 'member' });
      const owner = await t.user({ tenant: slug, role: 'owner' });
      const stranger = await t.user({ role: 'member' });
      const resetOf = (userId: string, token: string, delivery: unknown = 'temporary_password') =>
        t.request(`/v1/users/${userId}/password-reset`, { token, tenant: slug, json: { delivery } });

      expect((await resetOf(owner.userId, member.token)).status).toBe(403);
      expect((await resetOf(stranger.userId, admin.token)).status).toBe(404);
      expect((await resetOf(owner.userId, admin.token)).status).toBe(403);
      const bad = await resetOf(member.userId, admin.token, 'carrier-pigeon');
      expect(bad.status).toBe(400);
      expect((await problem(bad)).errors.map((e: { path: string }) => e.path)).toContain('delivery');
      for (const user of [member, owner, stranger])
        expect(await userEvents(user.userId)).toEqual(['UserRegistered']);
      expect((await resetOf(owner.userId, owner.token)).status).toBe(200);
    });
  });
}

describe('passwords: expiry, throttling and the log-only notifier', () => {
  let t: TestApp;
  let offsetMs = 0;
  beforeAll(async () => {
    t = await testApp(databaseKinds[0]?.fresh ?? (() => Promise.reject(new Error('no database'))), {
      clock: () => new Date(Date.now() + offsetMs),
      env: {
        WARDEN_PASSWORD_RESET_TTL_MINUTES: '5',
        WARDEN_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '4',
        WARDEN_LOGIN_FREE_FAILURES: '100',
      },
    });
  });
  afterAll(async () => {
    await t.dispose();
  });

  /** The reset token in the log-only notifier's line for `email` (waiting for it). */
  const loggedToken = async (email: string) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const line = t.lines.find((l) => l.includes('"notifier":"log"') && l.includes(email));
      const token = line?.match(/#token=([0-9a-f-]{36}\.[A-Za-z0-9_-]{43})/)?.[1];
      if (token) return token;
      if (Date.now() > deadline) throw new Error(`no logged reset link for ${email}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('logs the link in one line only (development), and refuses it once expired', async () => {
    const hal = await t.user({ role: 'member' });
    const res = await t.request('/v1/password/forgot', {
      tenant: hal.tenantSlug,
      json: { login: hal.email },
    });
    expect(res.status).toBe(202);
    const token = await loggedToken(hal.email);
    const secret = token.split('.')[1] as string;
    expect(t.lines.filter((l) => l.includes(secret))).toHaveLength(1);

    offsetMs = 5 * 60_000 + 1000;
    try {
      const expired = await t.request('/v1/password/reset', {
        tenant: hal.tenantSlug,
        json: { token, password: NEW_PASSWORD },
      });
      expect(expired.status).toBe(409);
      const body = await problem(expired);
      expect(body.rule).toBe('reset_token_invalid');
      expect(body.detail).toContain('expired');
    } finally {
      offsetMs = 0;
    }
    expect(t.lines.filter((l) => l.includes(secret))).toHaveLength(1);
  });

  it('throttles forgot-password per login (429 with Retry-After), whether or not the login exists', async () => {
    const ivy = await t.user({ role: 'member' });
    for (const login of [ivy.email, `nobody-${crypto.randomUUID().slice(0, 6)}@example.com`]) {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await t.request('/v1/password/forgot', { tenant: ivy.tenantSlug, json: { login } });
        statuses.push(res.status);
        if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      expect(statuses).toEqual([202, 202, 202, 202, 429, 429]);
    }
  });

  it("keeps forgot-password's budget apart from sign-in's: a stranger asking for someone's reset links does not lock them out, nor failed sign-ins their reset", async () => {
    const kim = await t.user({ role: 'member' });
    const login = () =>
      t.request('/v1/auth/login', {
        tenant: kim.tenantSlug,
        json: { email: kim.email, password: kim.password },
      });
    const forgot = () =>
      t.request('/v1/password/forgot', { tenant: kim.tenantSlug, json: { login: kim.email } });
    const asked: number[] = [];
    for (let i = 0; i < 6; i++) asked.push((await forgot()).status);
    expect(asked).toEqual([202, 202, 202, 202, 429, 429]);
    // The account's four sign-in attempts are all still there.
    expect((await login()).status).toBe(200);
    const lee = await t.user({ role: 'member' });
    for (let i = 0; i < 4; i++) {
      await t.request('/v1/auth/login', {
        tenant: lee.tenantSlug,
        json: { email: lee.email, password: 'not-the-password-at-all' },
      });
    }
    const locked = await t.request('/v1/auth/login', {
      tenant: lee.tenantSlug,
      json: { email: lee.email, password: lee.password },
    });
    expect(locked.status).toBe(429);
    // Locked out of signing in by failures (theirs or a guesser's), the owner can still ask for a link.
    const reset = await t.request('/v1/password/forgot', {
      tenant: lee.tenantSlug,
      json: { login: lee.email },
    });
    expect(reset.status).toBe(202);
  });

  it('throttles guessing reset tokens of one user', async () => {
    const jo = await t.user({ role: 'member' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const guess = `${jo.userId}.${'A'.repeat(42)}${i}`;
      const res = await t.request('/v1/password/reset', {
        tenant: jo.tenantSlug,
        json: { token: guess, password: NEW_PASSWORD },
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([409, 409, 409, 409, 429, 429]);
  });
});
