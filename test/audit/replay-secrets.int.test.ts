import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASED, userStreamId } from '../../src/commands/identity/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

/**
 * What `audit:read` (owner, admin, approver) sees when it replays a person's stream: the person as the
 * users endpoints show them to `users:read` (which every `audit:read` role holds), never a secret (the
 * password hash, the hashes of the reset and verification links), and after erasure nothing personal
 * at any revision.
 */
for (const kind of databaseKinds) {
  describe(`replaying a user's stream (${kind.name})`, () => {
    let t: TestApp;
    let slug: string;
    let owner: SignedInUser;
    let approver: SignedInUser;
    const tag = crypto.randomUUID().slice(0, 8);
    const ada = { email: `ada.${tag}@example.com`, name: `Ada Lovelace ${tag}`, password: `pw-${tag}-Xy!7q` };
    let adaId = '';
    let stream = '';
    /** What the user's events hold that is secret: the link hashes and the argon2 PHC string. */
    let secrets: string[] = [];

    const call = (path: string, as: { token: string }, init: Parameters<TestApp['request']>[1] = {}) =>
      t.request(path, { ...init, token: as.token, tenant: slug });
    const json = async (res: Response, status: number): Promise<LooseJson> => {
      expect(res.status, await res.clone().text()).toBe(status);
      return (await res.json()) as LooseJson;
    };
    const replay = async (as: SignedInUser, query: string) =>
      await call(`/v1/audit/streams/${encodeURIComponent(stream)}?${query}`, as);
    /** The events of Ada's stream once `count` of them are stored (links are sent in the background). */
    const adaEvents = async (count: number) => {
      for (let i = 0; i < 400; i++) {
        const events = await t.store.readStream(stream);
        if (events.length >= count) return events;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`${stream} never reached ${count} events`);
    };

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      slug = (await t.tenant()).slug;
      owner = await t.user({ tenant: slug, role: 'owner' });
      approver = await t.user({ tenant: slug, role: 'approver' });
      // Ada signs herself up (a verification link is mailed) and, before opening it, asks for a reset link.
      await json(await t.request('/v1/auth/register', { tenant: slug, json: ada }), 202);
      adaId = (await t.registered(owner.tenantId, ada.email)).id;
      stream = userStreamId(adaId);
      await adaEvents(2);
      expect(
        (await t.request('/v1/password/forgot', { tenant: slug, json: { login: ada.email } })).status,
      ).toBe(202);
      const events = await adaEvents(3);
      expect(events.map((e) => e.type)).toEqual([
        'UserRegistered',
        'EmailVerificationRequested',
        'PasswordResetRequested',
      ]);
      const data = events.map((e) => e.data as Record<string, unknown>);
      secrets = [data[0]!.passwordHash as string, data[1]!.tokenHash as string, data[2]!.tokenHash as string];
      expect(secrets[0]).toMatch(/^\$argon2id\$/);
      expect(secrets[1]).toMatch(/^[0-9a-f]{64}$/);
      expect(secrets[2]).toMatch(/^[0-9a-f]{64}$/);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('shows an approver (audit:read) no password hash and no link hash, at any revision or in the diff', async () => {
      const answers = [
        await json(await replay(approver, 'diff=true'), 200),
        ...(await Promise.all(
          [0, 1, 2].map(async (at) => await json(await replay(approver, `at=${at}`), 200)),
        )),
      ];
      for (const answer of answers) {
        const text = JSON.stringify(answer);
        for (const secret of secrets) expect(text).not.toContain(secret);
        expect(text).not.toMatch(/tokenHash|passwordHash|argon2/);
      }
      // When a link was sent and until when it holds stays on the record; only its hash is gone.
      const latest = answers[0]!;
      const events = await adaEvents(3);
      expect(latest.state).toMatchObject({
        email: ada.email,
        name: ada.name,
        emailVerified: false,
        emailVerification: { expiresAt: (events[1]!.data as LooseJson).expiresAt },
        passwordReset: { expiresAt: (events[2]!.data as LooseJson).expiresAt },
      });
      expect(latest.steps.map((s: LooseJson) => s.type)).toEqual(events.map((e) => e.type));
      expect(latest.steps[2].changes).toEqual([
        { path: 'passwordReset', from: null, to: { expiresAt: (events[2]!.data as LooseJson).expiresAt } },
        { path: 'updatedAt', from: expect.any(String), to: expect.any(String) },
      ]);
    });

    it('shows the email and name only as the users endpoints already show them to audit:read roles (users:read)', async () => {
      const user = await json(await call(`/v1/users/${adaId}`, approver), 200);
      expect(user).toMatchObject({ email: ada.email, name: ada.name });
    });

    it('reads her as erased at every revision once her personal data is erased, secrets still absent', async () => {
      const erased = await json(await call(`/v1/users/${adaId}/erase`, owner, { method: 'POST' }), 200);
      expect(erased).toMatchObject({ id: adaId, erased: true });
      const latestRevision = (await adaEvents(4)).length - 1;
      const revisions = Array.from({ length: latestRevision + 1 }, (_, i) => i);
      const answers = [
        await json(await replay(approver, 'diff=true'), 200),
        ...(await Promise.all(
          revisions.map(async (at) => await json(await replay(approver, `at=${at}`), 200)),
        )),
      ];
      for (const answer of answers) {
        const text = JSON.stringify(answer);
        for (const hidden of [...secrets, ada.email, ada.name]) expect(text).not.toContain(hidden);
        expect(text).not.toMatch(/tokenHash|passwordHash|argon2/);
        expect(answer.state).toMatchObject({ email: ERASED, name: ERASED });
      }
    });
  });
}
