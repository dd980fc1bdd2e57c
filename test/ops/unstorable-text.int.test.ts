import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStreamId } from '../../src/commands/identity/index.ts';
import { tenantStreamId } from '../../src/commands/tenancy/index.ts';
import { basic, form, oauthFixture } from '../oauth/support.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

/**
 * PostgreSQL takes no NUL in text and no unpaired surrogate in JSON it parses. A JSON body holding one
 * was stored as an event and then stopped every read model that projects it, for every tenant (an
 * admin adding a user named `Eve\u0000` stopped the user list); a query parameter holding one was a
 * 500. One check for every route: JSON bodies, forms and URLs.
 */
for (const kind of databaseKinds) {
  describe(`text PostgreSQL cannot hold, on every route (${kind.name})`, () => {
    let t: TestApp;
    let owner: SignedInUser;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      owner = await t.user({ role: 'owner' });
    });
    afterAll(() => t?.dispose());

    const call = async (path: string, init: { json?: unknown; method?: string; body?: string } = {}) => {
      const res = await t.request(path, {
        token: owner.token,
        tenant: owner.tenantSlug,
        ...(init.body === undefined
          ? {}
          : { method: 'POST', headers: { 'content-type': 'application/json' } }),
        ...init,
      });
      const text = await res.text();
      return {
        status: res.status,
        type: res.headers.get('content-type'),
        body: (text ? JSON.parse(text) : {}) as LooseJson,
      };
    };
    const refusedAt = async (answer: ReturnType<typeof call>, path: string) => {
      const { status, type, body } = await answer;
      expect(status, JSON.stringify(body)).toBe(400);
      expect(type).toBe('application/problem+json');
      expect(body.errors).toEqual([
        { path, message: 'must not contain NUL characters or unpaired surrogates' },
      ]);
    };

    it('refuses a JSON body holding a NUL or an unpaired surrogate with 400 naming the field, and appends nothing', async () => {
      const before = await t.store.headPosition();
      const user = (name: string) => ({
        email: `u-${crypto.randomUUID().slice(0, 8)}@example.com`,
        name,
        role: 'member',
        password: 'plum-orbit-kettle-47-x',
      });
      await refusedAt(call('/v1/users', { json: user('Eve\u0000') }), 'name');
      await refusedAt(call('/v1/users', { json: user('Eve\ud800') }), 'name');
      await refusedAt(call('/v1/users', { json: user('Eve\udfff!') }), 'name');
      await refusedAt(
        call('/v1/tools/targets', {
          method: 'PUT',
          json: { targets: ['10.0.0.0/8', 'a\u0000.example.com'] },
        }),
        'targets.1',
      );
      await refusedAt(call('/v1/projects', { body: '{"key":"WARD","name":"W","x\\u0000y":1}' }), 'xy');
      // Nothing of theirs was appended (other work of the service may append meanwhile).
      const appended = await t.store.readAll({ after: before, limit: 1000 });
      expect(
        appended.filter((e) => ['UserRegistered', 'ToolTargetsChanged', 'ProjectCreated'].includes(e.type)),
      ).toEqual([]);

      // Text that only looks like it: an escaped backslash, a surrogate pair (an emoji).
      const fine = await call('/v1/users', {
        body: JSON.stringify(user('Eve \\u0000 😀')).replace('😀', '\\ud83d\\ude00'),
      });
      expect(fine.status, JSON.stringify(fine.body)).toBe(201);
      expect(fine.body.name).toBe('Eve \\u0000 😀');
      await t.engine.waitFor(['userList'], await t.store.headPosition(), 10_000);
      expect((await t.engine.status()).filter((s) => s.state === 'failed').map((s) => s.name)).toEqual([]);
    });

    it('refuses a %00 in the query or the path with 400 naming it, never a 500', async () => {
      for (const path of [
        '/v1/users?q=%00',
        '/v1/audit?type=a%00',
        '/v1/packages?q=%00',
        '/v1/executions?tool=%00',
      ]) {
        await refusedAt(call(path), `query.${new URL(path, 'http://x').searchParams.keys().next().value}`);
      }
      await refusedAt(call('/v1/projects/WA%00RD/issues'), 'path');
      expect((await call('/v1/users?q=%2500')).status).toBe(200);
    });

    it('refuses a %00 in an OAuth form as the protocol does (invalid_request)', async () => {
      const o = await oauthFixture(t);
      const client = await o.confidential();
      const res = await o.call('/oauth/token', {
        ...form({ grant_type: 'client_credentials', scope: 'packages:read\u0000' }),
        headers: {
          authorization: basic(client.client_id, client.client_secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as LooseJson).error).toBe('invalid_request');
    });

    it('applies user and tenant events stored before such text was refused, instead of stopping at them', async () => {
      const at = new Date().toISOString();
      const metadata = { tenantId: owner.tenantId, actorId: owner.userId };
      await t.store.append(tenantStreamId(owner.tenantId), [
        {
          id: randomUUID(),
          type: 'TenantRenamed',
          data: { tenantId: owner.tenantId, name: 'Old\u0000 name', at },
          metadata,
        },
      ]);
      await t.store.append(userStreamId(owner.userId), [
        {
          id: randomUUID(),
          type: 'UsernameSet',
          data: {
            userId: owner.userId,
            tenantId: owner.tenantId,
            username: 'old\ud800',
            claimId: randomUUID(),
            at,
          },
          metadata,
        },
      ]);
      await t.engine.waitFor(['tenantList', 'userList'], await t.store.headPosition(), 10_000);
      expect((await t.engine.status()).filter((s) => s.state === 'failed').map((s) => s.name)).toEqual([]);
      const me = await call(`/v1/users/${owner.userId}`);
      expect(me.body.username).toBe('old\ufffd');
    });
  });
}
