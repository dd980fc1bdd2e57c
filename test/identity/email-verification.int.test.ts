import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStreamId } from '../../src/commands/identity/index.ts';
import { identityCredentials } from '../../src/identity/index.ts';
import { checkSignIn } from '../../src/oauth/index.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { linkIn, testSmtpServer } from '../support/smtp.ts';

const PUBLIC = 'https://warden.example.test';
const password = 'saffron-meadow-29-quartz';

describe('email verification of self-registrations in open tenants', () => {
  let t: TestApp;
  let smtp: Awaited<ReturnType<typeof testSmtpServer>>;
  beforeAll(async () => {
    smtp = await testSmtpServer();
    t = await testApp(freshPGlite, { env: { WARDEN_SMTP_URL: smtp.url, WARDEN_PUBLIC_URL: PUBLIC } });
  });
  afterAll(async () => {
    await t.dispose();
    await smtp.close();
  });

  const email = () => `reg-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const register = (slug: string, address: string) =>
    t.request('/v1/auth/register', { tenant: slug, json: { email: address, password, name: 'Reg' } });
  const login = (slug: string, address: string, pw = password) =>
    t.request('/v1/auth/login', { tenant: slug, json: { email: address, password: pw } });
  const tokenOf = (link: URL) => new URLSearchParams(link.hash.slice(1)).get('token') ?? '';
  const events = async (userId: string) =>
    (await t.store.readStream(userStreamId(userId))).map((e) => e.type);

  it('mails a link; until it is opened the account cannot sign in; opened once, it signs in', async () => {
    const { id: tenantId, slug } = await t.tenant();
    const address = email();
    expect((await register(slug, address)).status).toBe(202);
    const user = await t.registered(tenantId, address);
    const mail = await smtp.mailTo(address);
    const link = linkIn(mail);
    expect(`${link.origin}${link.pathname}`).toBe(`${PUBLIC}/t/${slug}/email/verify`);
    expect(mail.headers.get('subject')).toContain('Verify your email');

    const refused = await login(slug, address);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as LooseJson).type).toMatch(/email-not-verified$/);
    // A wrong password learns nothing about the account's state.
    expect((await login(slug, address, 'wrong-password-123')).status).toBe(401);
    // The OAuth sign-in page refuses the right password too (the same, real credentials check).
    const users = {
      verifyCredentials: identityCredentials({
        store: t.store,
        hasher: t.identity.hasher,
        clock: () => new Date(),
        userIds: t.identity.userIds,
      }),
      current: async () => undefined,
    };
    expect(
      await checkSignIn({ users }, { tenantId, email: address, address: undefined }, password),
    ).toMatchObject({
      ok: false,
      message: expect.stringContaining('Verify your email'),
    });
    // The refused sign-in mailed a fresh link, which supersedes the first.
    const fresh = linkIn(await smtp.mailTo(address, 1));

    const page = await t.request(link.pathname);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('../v1/auth/verify-email');

    const stale = await t.request('/v1/auth/verify-email', { tenant: slug, json: { token: tokenOf(link) } });
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as LooseJson).rule).toBe('verification_token_invalid');
    const verified = await t.request('/v1/auth/verify-email', {
      tenant: slug,
      json: { token: tokenOf(fresh) },
    });
    expect(verified.status, await verified.clone().text()).toBe(204);
    expect((await login(slug, address)).status).toBe(200);
    const again = await t.request('/v1/auth/verify-email', { tenant: slug, json: { token: tokenOf(fresh) } });
    expect(again.status).toBe(409);
    expect(await events(user.id)).toEqual([
      'UserRegistered',
      'EmailVerificationRequested',
      'EmailVerificationRequested',
      'EmailVerified',
    ]);
  });

  it('refuses a role for an unverified user (409 email_unverified, nothing appended), grants it once verified', async () => {
    const { id: tenantId, slug } = await t.tenant();
    const admin = await t.user({ tenant: slug, role: 'admin' });
    const address = email();
    expect((await register(slug, address)).status).toBe(202);
    const user = await t.registered(tenantId, address);
    const link = linkIn(await smtp.mailTo(address));
    const promote = () =>
      t.request(`/v1/users/${user.id}`, {
        method: 'PATCH',
        token: admin.token,
        tenant: slug,
        json: { role: 'approver' },
      });
    const refused = await promote();
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as LooseJson).rule).toBe('email_unverified');
    expect(await events(user.id)).toEqual(['UserRegistered', 'EmailVerificationRequested']);
    expect(
      (await t.request('/v1/auth/verify-email', { tenant: slug, json: { token: tokenOf(link) } })).status,
    ).toBe(204);
    expect((await promote()).status).toBe(200);
  });

  it('refuses another tenant’s link and a malformed one; admin-added users sign in at once', async () => {
    const a = await t.tenant();
    const b = await t.tenant();
    const address = email();
    expect((await register(a.slug, address)).status).toBe(202);
    const link = linkIn(await smtp.mailTo(address));
    const cross = await t.request('/v1/auth/verify-email', {
      tenant: b.slug,
      json: { token: tokenOf(link) },
    });
    expect(cross.status).toBe(409);
    const malformed = await t.request('/v1/auth/verify-email', { tenant: a.slug, json: { token: 'x' } });
    expect(malformed.status).toBe(409);
    const missing = await t.request('/v1/auth/verify-email', { tenant: a.slug, json: {} });
    expect(missing.status).toBe(400);
    // Users an admin adds are verified (the admin vouches): they sign in at once.
    const added = await t.user({ tenant: a.slug, role: 'member' });
    expect((await login(a.slug, added.email, added.password)).status).toBe(200);
  });

  it('sends nothing for a taken email and answers it alike; an approval tenant’s sign-ups need no link', async () => {
    const { id: tenantId, slug } = await t.tenant();
    const owner = await t.user({ tenant: slug, role: 'owner' });
    const address = email();
    const first = await register(slug, address);
    await smtp.mailTo(address);
    const second = await register(slug, address);
    expect(second.status).toBe(first.status);
    expect(await second.json()).toEqual(await first.json());
    const user = await t.registered(tenantId, address);
    // Let any (wrong) second mail arrive before counting.
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.mails.filter((m) => m.to.includes(address))).toHaveLength(1);
    expect(await events(user.id)).toEqual(['UserRegistered', 'EmailVerificationRequested']);

    const policy = await t.request('/v1/signup-policy', {
      method: 'PUT',
      token: owner.token,
      tenant: slug,
      json: { policy: 'approval' },
    });
    expect(policy.status).toBe(200);
    const waiting = email();
    expect((await register(slug, waiting)).status).toBe(202);
    const pending = await t.registered(tenantId, waiting);
    expect(await events(pending.id)).toEqual(['UserRegistered']);
  });
});
