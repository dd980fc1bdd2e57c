import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { authorizationCodes } from '../../src/oauth/codes.ts';
import { pendingRequests } from '../../src/oauth/requests.ts';
import { tenantSessions } from '../../src/processes/identity/index.ts';
import { processContext, type Worker } from '../../src/processes/runtime/index.ts';
import { form, oauthFixture, pkce, REDIRECT } from '../oauth/support.ts';
import { serviceWorkers, waitUntil } from '../processes/support.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { readAllWritten } from '../support/visibility.ts';

interface CodeRow {
  code_id: string;
  used_at: Date | string | null;
}

interface RequestRow {
  id: string;
  kind: string;
  used_at: Date | string | null;
}

interface FamilyRow {
  family_id: string;
  client_id: string | null;
  revoked_at: Date | string | null;
  revoked_reason: string | null;
}

for (const kind of databaseKinds) {
  describe(`a deleted tenant's sessions (${kind.name})`, () => {
    let t: TestApp;
    let worker: Worker;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      worker = await serviceWorkers(t);
    });
    afterAll(async () => {
      await worker.stop();
      await t.dispose();
    });
    const families = async (tenantId: string) =>
      (
        await sql<FamilyRow>`
          select family_id, client_id, revoked_at, revoked_reason from warden_token_families
          where tenant_id = ${tenantId}`.execute(t.database.db)
      ).rows;
    const codes = async (tenantId: string) =>
      (
        await sql<CodeRow>`
          select code_id, used_at from warden_oauth_codes where tenant_id = ${tenantId} order by code_id`.execute(
          t.database.db,
        )
      ).rows;
    const unredeemed = async (tenantId: string) => (await codes(tenantId)).filter((c) => c.used_at === null);
    const browserSessions = async (tenantId: string) =>
      (
        await sql<{ id_hash: string }>`
          select id_hash from warden_oauth_sessions where tenant_id = ${tenantId} order by id_hash`.execute(
          t.database.db,
        )
      ).rows.map((r) => r.id_hash);
    const requests = async (tenantId: string) =>
      (
        await sql<RequestRow>`
          select id, kind, used_at from warden_oauth_requests where tenant_id = ${tenantId} order by id`.execute(
          t.database.db,
        )
      ).rows;
    /** Every pending request in the database that is not `tenantId`'s. */
    const requestsBut = async (tenantId: string) =>
      (
        await sql<RequestRow>`
          select id, kind, used_at from warden_oauth_requests where tenant_id <> ${tenantId} order by id`.execute(
          t.database.db,
        )
      ).rows;
    /** A pushed authorization request (PAR) of `client`, its request_uri not used yet. */
    const pushedRequest = async (o: Awaited<ReturnType<typeof oauthFixture>>, client: LooseJson) => {
      const { verifier, challenge } = pkce();
      const state = crypto.randomUUID();
      const pushed = await o.post('/oauth/par', client, {
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scope: 'openid',
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      expect(pushed.status).toBe(201);
      const { request_uri: requestUri } = (await pushed.json()) as { request_uri: string };
      return { requestUri, state, verifier };
    };
    /**
     * A consent page the signed-in browser of `o` is shown for a scope not allowed yet, its form not
     * submitted: an interaction left open, its CSRF token in the browser's cookie.
     */
    const openConsent = async (o: Awaited<ReturnType<typeof oauthFixture>>, client: LooseJson) => {
      const { verifier, challenge } = pkce();
      const state = crypto.randomUUID();
      const res = await o.call(
        o.authorizeUrl({
          response_type: 'code',
          client_id: client.client_id,
          redirect_uri: REDIRECT,
          scope: 'openid profile',
          state,
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
      );
      expect(res.status).toBe(200);
      const html = await res.text();
      const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? '';
      expect(action).toMatch(/\/oauth\/authorize\/consent$/);
      return { action, interaction: field('interaction'), csrf: field('csrf'), state, verifier };
    };
    /** A code the signed-in browser of `o` gets back from the authorization endpoint, not exchanged. */
    const pendingCode = async (o: Awaited<ReturnType<typeof oauthFixture>>, client: LooseJson) => {
      const { back, code, verifier } = await o.authorizeCode(client, 'openid');
      // Single sign-on: the browser's session of the earlier flow answers without a sign-in page.
      expect(back.pages).not.toContain('login');
      if (!code) throw new Error(`no code: ${back.url}`);
      return { code, verifier };
    };

    it('are revoked in storage: every sign-in and OAuth grant of the tenant, with an event each, its unredeemed codes, browser sessions and pending authorization requests deleted; another tenant’s stay live', async () => {
      const o = await oauthFixture(t);
      const slug = o.tenant.slug;
      const ann = await t.user({ tenant: slug, role: 'member' });
      const client = await o.confidential();
      const flow = await o.codeFlow(client, 'openid offline_access packages:read', {}, ann);
      expect(flow.res.status).toBe(200);
      expect((flow.tokens as { refresh_token?: string }).refresh_token).toBeTruthy();
      // Another tenant, with a sign-in of its own and an OAuth grant of its own.
      const other = await oauthFixture(t);
      const bo = await t.user({ tenant: other.tenant.slug, role: 'member' });
      const otherClient = await other.confidential();
      expect((await other.codeFlow(otherClient, 'openid offline_access', {}, bo)).res.status).toBe(200);
      // Each tenant's browser is still signed in to its authorization server and holds a code it has
      // not exchanged yet.
      const pending = await pendingCode(o, client);
      const otherPending = await pendingCode(other, otherClient);
      expect(await unredeemed(o.tenant.id)).toHaveLength(1);
      expect(await unredeemed(other.tenant.id)).toHaveLength(1);
      expect(await browserSessions(o.tenant.id)).not.toHaveLength(0);
      const otherSessions = await browserSessions(other.tenant.id);
      expect(otherSessions).not.toHaveLength(0);
      const otherCodes = await codes(other.tenant.id);
      // Each tenant's client has pushed an authorization request it has not used yet, and each
      // tenant's browser has a consent page open it has not answered yet.
      const pushed = await pushedRequest(o, client);
      const otherPushed = await pushedRequest(other, otherClient);
      const consent = await openConsent(o, client);
      const otherConsent = await openConsent(other, otherClient);
      const open = (rows: RequestRow[]) => rows.filter((r) => r.used_at === null).map((r) => r.kind);
      expect(open(await requests(o.tenant.id)).sort()).toEqual(['interaction', 'par']);
      expect(open(await requests(other.tenant.id)).sort()).toEqual(['interaction', 'par']);
      const othersRequests = await requestsBut(o.tenant.id);

      const before = await families(o.tenant.id);
      // The owner's and Ann's sign-ins and Ann's grant to the client.
      expect(before.length).toBeGreaterThanOrEqual(3);
      expect(before.filter((f) => f.client_id !== null)).toHaveLength(1);
      expect(before.every((f) => f.revoked_at === null)).toBe(true);
      const othersBefore = await families(other.tenant.id);
      expect(othersBefore.length).toBeGreaterThanOrEqual(3);

      const deleted = await t.request(`/v1/tenants/${o.tenant.id}`, {
        method: 'DELETE',
        token: o.owner.token,
        tenant: slug,
      });
      expect(deleted.status).toBe(204);

      const after = await waitUntil(
        'every family of the deleted tenant revoked',
        async () => {
          const rows = await families(o.tenant.id);
          return rows.every((f) => f.revoked_at !== null) ? rows : undefined;
        },
        20_000,
      );
      expect(after.map((f) => f.revoked_reason)).toEqual(after.map(() => 'tenant_deleted'));
      expect(new Set(after.map((f) => f.family_id))).toEqual(new Set(before.map((f) => f.family_id)));
      // Nothing of the other tenant is touched.
      const othersAfter = await families(other.tenant.id);
      expect(othersAfter).toHaveLength(othersBefore.length);
      expect(othersAfter.every((f) => f.revoked_at === null)).toBe(true);
      expect((await t.request('/v1/me', { token: bo.token, tenant: other.tenant.slug })).status).toBe(200);

      // Deleted with the revocations: the tenant's codes not yet exchanged and its browser sessions.
      // The codes it did exchange stay until they are swept (a replay still names its family).
      expect(await unredeemed(o.tenant.id)).toEqual([]);
      expect(await browserSessions(o.tenant.id)).toEqual([]);
      // A deleted tenant does not resolve; were its code presented all the same, it is unknown.
      const codeStore = authorizationCodes({
        db: t.database.db,
        ttlSeconds: t.config.WARDEN_OAUTH_CODE_TTL_SECONDS,
        clock: () => new Date(),
      });
      expect(
        await codeStore.redeem(pending.code, o.tenant.id, {
          clientId: client.client_id,
          redirectUri: REDIRECT,
          verifier: pending.verifier,
        }),
      ).toEqual({ ok: false, reason: 'unknown' });
      // Its pending authorization requests are deleted too: presented all the same, the pushed
      // request_uri is unknown and the open consent page's interaction is gone.
      const requestStore = pendingRequests({ db: t.database.db, clock: () => new Date() });
      expect(await requestStore.takePushed(o.tenant.id, client.client_id, pushed.requestUri)).toBeUndefined();
      expect(await requestStore.interaction(o.tenant.id, consent.interaction, consent.csrf)).toBeUndefined();
      expect(await requests(o.tenant.id)).toEqual([]);
      // No other tenant's request is touched.
      expect(await requestsBut(o.tenant.id)).toEqual(othersRequests);
      // The other tenant's stay, and its pending code is still exchanged for tokens.
      expect(await codes(other.tenant.id)).toEqual(otherCodes);
      expect(await browserSessions(other.tenant.id)).toEqual(otherSessions);
      const exchanged = await other.exchangeCode(otherClient, otherPending);
      expect(exchanged.status).toBe(200);
      // Its open consent page is still answered with a code, and its pushed request still used.
      const allowed = await other.call(
        `http://localhost${otherConsent.action}`,
        form({ interaction: otherConsent.interaction, csrf: otherConsent.csrf, decision: 'allow' }),
      );
      expect(allowed.status).toBe(303);
      const consented = new URL(allowed.headers.get('location') ?? '').searchParams;
      expect(consented.get('state')).toBe(otherConsent.state);
      const consentedCode = consented.get('code') ?? '';
      expect(
        (await other.exchangeCode(otherClient, { code: consentedCode, verifier: otherConsent.verifier }))
          .status,
      ).toBe(200);
      const viaPushed = await other.authorize({
        client_id: otherClient.client_id,
        request_uri: otherPushed.requestUri,
      });
      expect(viaPushed.pages).toEqual([]);
      expect(viaPushed.params.state).toBe(otherPushed.state);
      expect(
        (
          await other.exchangeCode(otherClient, {
            code: viaPushed.params.code ?? '',
            verifier: otherPushed.verifier,
          })
        ).status,
      ).toBe(200);
      const refreshed = await t.request('/v1/auth/refresh', {
        tenant: other.tenant.slug,
        json: { refresh_token: bo.refreshToken },
      });
      expect(refreshed.status).toBe(200);

      // Each family's end is in the audit trail once, caused by the deletion.
      const revoked = (
        await readAllWritten(t.store, t.database.db, { types: ['TokenFamilyRevoked'] })
      ).filter((e) => e.metadata.tenantId === o.tenant.id);
      expect(revoked.map((e) => (e.data as { familyId: string }).familyId).sort()).toEqual(
        before.map((f) => f.family_id).sort(),
      );
      expect(new Set(revoked.map((e) => (e.data as { reason: string }).reason))).toEqual(
        new Set(['tenant_deleted']),
      );
      expect(new Set(revoked.map((e) => e.metadata.actorId))).toEqual(new Set(['process:tenantSessions']));

      // Handled again (a replay, a crash before the checkpoint), it revokes and records nothing more.
      const othersRequestsUsed = await requestsBut(o.tenant.id);
      const deletion = (await t.store.readAll({ types: ['TenantDeleted'] })).find(
        (e) => (e.data as { tenantId: string }).tenantId === o.tenant.id,
      );
      if (!deletion) throw new Error('no TenantDeleted event');
      await tenantSessions.handle(
        deletion,
        processContext(tenantSessions.name, deletion, {
          store: t.store,
          db: t.database.db as never,
          logger: createLogger('silent'),
        }),
      );
      expect(await families(o.tenant.id)).toEqual(after);
      expect(await unredeemed(o.tenant.id)).toEqual([]);
      expect(await browserSessions(o.tenant.id)).toEqual([]);
      expect(await browserSessions(other.tenant.id)).toEqual(otherSessions);
      expect(await requests(o.tenant.id)).toEqual([]);
      expect(await requestsBut(o.tenant.id)).toEqual(othersRequestsUsed);
      const again = (await readAllWritten(t.store, t.database.db, { types: ['TokenFamilyRevoked'] })).filter(
        (e) => e.metadata.tenantId === o.tenant.id,
      );
      expect(again).toHaveLength(revoked.length);
    });
  });
}
