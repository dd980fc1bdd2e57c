import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npmTokenStreamId } from '../../src/packages/npm-tokens.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { serviceWorkers, waitUntil } from '../processes/support.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

for (const kind of databaseKinds) {
  describe(`npm read tokens and the npm view's refusals (${kind.name})`, () => {
    let t: TestApp;
    let member: SignedInUser;
    let colleague: SignedInUser;
    let admin: SignedInUser;
    let outsider: SignedInUser;
    let worker: Worker;

    const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
      const res = await t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as LooseJson };
    };
    /** A GET on a tenant's npm view with a read token, as npm sends it. */
    const view = (slug: string, path: string, secret?: string, method = 'GET') =>
      t.request(`/t/${slug}/npm/${path}`, {
        method,
        ...(secret === undefined ? {} : { headers: { authorization: `Bearer ${secret}` } }),
      });
    const issue = async (user: SignedInUser, name = 'ci') => {
      const res = await call(user, '/v1/npm-tokens', { json: { name } });
      expect(res.status).toBe(201);
      return res.body as { id: string; token: string; registry: string; npmrc: string };
    };

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      const { slug } = await t.tenant();
      member = await t.user({ tenant: slug, role: 'member' });
      colleague = await t.user({ tenant: slug, role: 'member' });
      admin = await t.user({ tenant: slug, role: 'admin' });
      outsider = await t.user({ role: 'owner' });
      worker = await serviceWorkers(t);
    });
    afterAll(async () => {
      await worker?.stop();
      await t?.dispose();
    });

    it('issues a token whose secret is shown once (no-store), lists it without the secret, and audits it', async () => {
      const res = await call(member, '/v1/npm-tokens', { json: { name: 'build server' } });
      expect(res.status).toBe(201);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('location')).toBe(`/v1/npm-tokens/${res.body.id}`);
      expect(res.body.token).toMatch(/^wnpm_[A-Za-z0-9_-]{43}$/);
      expect(res.body.registry).toBe(`http://localhost/t/${member.tenantSlug}/npm/`);
      expect(res.body.npmrc).toContain(
        `//localhost/t/${member.tenantSlug}/npm/:_authToken=${res.body.token}`,
      );
      const listed = await call(member, '/v1/npm-tokens');
      expect(listed.body.items).toContainEqual(
        expect.objectContaining({
          id: res.body.id,
          name: 'build server',
          created_by: member.userId,
          revoked_at: null,
        }),
      );
      expect(JSON.stringify(listed.body)).not.toContain(res.body.token);
      const events = await t.store.readStream(npmTokenStreamId(res.body.id));
      expect(events.map((e) => e.type)).toEqual(['NpmTokenIssued']);
      expect(JSON.stringify(events.map((e) => e.data))).not.toContain(res.body.token);
      expect(t.lines.join('\n')).not.toContain(res.body.token);
      expect(
        (await t.request('/v1/npm-tokens', { tenant: member.tenantSlug, json: { name: 'x' } })).status,
      ).toBe(401);
    });

    it('answers a version the tenant never let in with a 403 problem naming the package, the version and the decision', async () => {
      const { token } = await issue(member);
      const tarball = await view(member.tenantSlug, 'left-pad/-/left-pad-1.3.0.tgz', token);
      expect(tarball.status).toBe(403);
      expect(tarball.headers.get('content-type')).toContain('application/problem+json');
      expect(await tarball.json()).toMatchObject({
        type: '/problems/package-not-allowed',
        package: 'left-pad',
        version: '1.3.0',
        decision: 'unknown',
      });
      const scoped = await view(member.tenantSlug, '@scope%2fthing', token);
      expect(scoped.status).toBe(403);
      expect(await scoped.json()).toMatchObject({
        package: '@scope/thing',
        version: null,
        decision: 'unknown',
        decisions: {},
      });
      // The tenant named by X-Tenant (or its domain) serves the same view at /npm/.
      const byHeader = await t.request('/npm/left-pad', {
        tenant: member.tenantSlug,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(byHeader.status).toBe(403);
      expect((await view(member.tenantSlug, 'left-pad', token, 'PUT')).status).toBe(405);
      expect((await view(member.tenantSlug, '..%2fetc', token)).status).toBe(404);
    });

    it("refuses another tenant's token, an access token, a made-up token and none alike (401)", async () => {
      const { token } = await issue(member);
      const theirs = await issue(outsider);
      for (const secret of [theirs.token, member.token, `wnpm_${'a'.repeat(43)}`, undefined]) {
        const res = await view(member.tenantSlug, 'left-pad', secret);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
      }
      expect((await view(member.tenantSlug, 'left-pad', token)).status).toBe(403);
      expect((await view('no-such-tenant-here', 'left-pad', token)).status).toBe(404);
    });

    it('is revoked by its issuer or a user manager only; a revoked token stops working and the revocation is audited', async () => {
      const mine = await issue(member);
      expect((await call(colleague, `/v1/npm-tokens/${mine.id}`, { method: 'DELETE' })).status).toBe(403);
      expect((await call(outsider, `/v1/npm-tokens/${mine.id}`, { method: 'DELETE' })).status).toBe(404);
      expect((await call(member, `/v1/npm-tokens/${mine.id}`, { method: 'DELETE' })).status).toBe(204);
      expect((await view(member.tenantSlug, 'left-pad', mine.token)).status).toBe(401);
      expect((await call(member, `/v1/npm-tokens/${mine.id}`, { method: 'DELETE' })).status).toBe(404);
      const other = await issue(colleague);
      expect((await call(admin, `/v1/npm-tokens/${other.id}`, { method: 'DELETE' })).status).toBe(204);
      const events = await t.store.readStream(npmTokenStreamId(mine.id));
      expect(events.map((e) => [e.type, e.metadata.actorId])).toEqual([
        ['NpmTokenIssued', member.userId],
        ['NpmTokenRevoked', member.userId],
      ]);
      const listed = await call(member, '/v1/npm-tokens');
      expect(listed.body.items).toContainEqual(
        expect.objectContaining({ id: mine.id, revoked_at: expect.any(String) }),
      );
    });

    it('end with their issuer: a member who leaves the tenant loses the tokens they minted, others keep theirs', async () => {
      const { slug } = await t.tenant();
      const owner = await t.user({ tenant: slug, role: 'owner' });
      const leaver = await t.user({ tenant: slug, role: 'member' });
      const stayer = await t.user({ tenant: slug, role: 'member' });
      const minted = [await issue(leaver, 'laptop'), await issue(leaver, 'ci')];
      const kept = await issue(stayer);
      for (const { token } of [...minted, kept])
        expect((await view(slug, 'left-pad', token)).status).toBe(403);

      expect((await call(owner, `/v1/users/${leaver.userId}`, { method: 'DELETE' })).status).toBe(204);
      // The worker revokes them in the removal's wake (seconds), not never.
      for (const { token } of minted) {
        await waitUntil(
          'the leaver’s token refused',
          async () => (await view(slug, 'left-pad', token)).status === 401,
        );
      }
      expect((await view(slug, 'left-pad', kept.token)).status).toBe(403);

      const listed = await call(owner, '/v1/npm-tokens');
      const state = Object.fromEntries(
        (listed.body.items as { id: string; revoked_at: string | null }[]).map((i) => [i.id, i.revoked_at]),
      );
      expect(state[minted[0]!.id]).toEqual(expect.any(String));
      expect(state[minted[1]!.id]).toEqual(expect.any(String));
      expect(state[kept.id]).toBeNull();
      for (const { id } of minted) {
        const events = await t.store.readStream(npmTokenStreamId(id));
        expect(
          events.map((e) => [e.type, e.metadata.actorId, (e.data as { reason?: string }).reason]),
        ).toEqual([
          ['NpmTokenIssued', leaver.userId, undefined],
          ['NpmTokenRevoked', 'process:npmTokenIssuers', 'issuer_gone'],
        ]);
      }

      // Added again, the same person starts afresh: a new token works, the old ones stay revoked.
      const back = await t.user({ tenant: slug, role: 'member', email: leaver.email });
      const fresh = await issue(back);
      expect((await view(slug, 'left-pad', fresh.token)).status).toBe(403);
      for (const { token } of minted) expect((await view(slug, 'left-pad', token)).status).toBe(401);
    });
  });
}
