import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicy, requestStreamId } from '../../src/commands/packages/index.ts';
import { packagePipeline } from '../../src/processes/packages/pipeline.ts';
import { processContext } from '../../src/processes/runtime/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';

const lockfile = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'lockfiles', 'lock-v3.json'), 'utf8'),
) as Record<string, unknown>;

for (const kind of databaseKinds) {
  describe(`packages over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let member: SignedInUser;
    let approver: SignedInUser;
    let admin: SignedInUser;
    let owner: SignedInUser;
    let outsider: SignedInUser;

    const call = async (
      user: SignedInUser,
      path: string,
      init: { json?: unknown; method?: string; body?: string; headers?: Record<string, string> } = {},
    ) => {
      const res = await t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
      const text = await res.text();
      return {
        status: res.status,
        headers: res.headers,
        type: res.headers.get('content-type'),
        body: (text ? JSON.parse(text) : {}) as LooseJson,
      };
    };
    // The last position written to this test's schema (headPosition lags on a shared server).
    const eventCount = async () => Number(await lastWritten(t.database.db));

    beforeAll(async () => {
      t = await testApp(kind.fresh, { env: { WARDEN_LOCKFILE_LIMIT_BYTES: String(256 * 1024) } });
      const { slug } = await t.tenant();
      member = await t.user({ tenant: slug, role: 'member' });
      approver = await t.user({ tenant: slug, role: 'approver' });
      admin = await t.user({ tenant: slug, role: 'admin' });
      owner = await t.user({ tenant: slug, role: 'owner' });
      outsider = await t.user({ role: 'owner' });
    });
    afterAll(() => t?.dispose());

    it('accepts a lockfile: 202 with the request, its packages and the sources it will not fetch', async () => {
      const res = await call(member, '/v1/package-requests', { json: lockfile });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe(`/v1/package-requests/${res.body.id}`);
      expect(res.body).toMatchObject({ status: 'received', packages_total: 5 });
      expect(res.body.unsupported).toEqual([
        expect.objectContaining({ name: 'local-lib', reason: 'unsupported_source' }),
      ]);
      const read = await call(member, `/v1/package-requests/${res.body.id}`, {
        headers: { 'x-min-position': res.body.position },
      });
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({
        status: 'received',
        progress: { done: 0, total: 5 },
        lockfile_version: 3,
      });
      expect(read.body.packages).toHaveLength(5);
      // Another tenant does not see it.
      expect((await call(outsider, `/v1/package-requests/${res.body.id}`)).status).toBe(404);
    });

    it.each([
      [
        'not JSON',
        { body: '{"lockfileVersion":', headers: { 'content-type': 'application/json' } },
        400,
        '(body)',
      ],
      ['JSON that is not a lockfile', { json: { name: 'x', dependencies: {} } }, 422, 'lockfileVersion'],
      ['an unknown lockfileVersion', { json: { lockfileVersion: 9, packages: {} } }, 422, 'lockfileVersion'],
      [
        'a name that tries path traversal',
        { json: { lockfileVersion: 3, packages: { 'node_modules/../../x': { version: '1.0.0' } } } },
        422,
        'packages.node_modules/../../x.name',
      ],
      [
        'a path-traversal name whose source Warden would only list as unsupported',
        {
          json: {
            lockfileVersion: 3,
            packages: {
              'node_modules/../../etc': { version: '1.0.0', resolved: 'git+https://git.example.com/x.git' },
            },
          },
        },
        422,
        'packages.node_modules/../../etc.name',
      ],
      [
        'a nested v1 name that tries path traversal',
        {
          json: {
            lockfileVersion: 1,
            dependencies: { a: { version: '1.0.0', dependencies: { '../../x': { version: '1.0.0' } } } },
          },
        },
        422,
        'dependencies.a.dependencies.../../x.name',
      ],
      [
        'a version that is not semver',
        { json: { lockfileVersion: 3, packages: { 'node_modules/a': { version: 'latest' } } } },
        422,
        'packages.node_modules/a.version',
      ],
    ])('refuses %s with problem+json naming the field, appending nothing', async (_, init, status, path) => {
      const before = await eventCount();
      const res = await call(member, '/v1/package-requests', { method: 'POST', ...init });
      expect(res.status).toBe(status);
      expect(res.type).toContain('application/problem+json');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
      expect(await eventCount()).toBe(before);
    });

    it('refuses a body over the lockfile limit (413) and a lockfile of 100,000 entries, and stays up', async () => {
      const packages: Record<string, unknown> = {};
      for (let i = 0; i < 100_000; i++) packages[`node_modules/p${i}`] = { version: '1.0.0' };
      const before = await eventCount();
      const huge = await call(member, '/v1/package-requests', { json: { lockfileVersion: 3, packages } });
      expect(huge.status).toBe(413);
      expect(huge.type).toContain('application/problem+json');
      expect(huge.body.detail).toContain(String(256 * 1024));
      const roomy = await t.variant({
        config: { ...t.config, WARDEN_LOCKFILE_LIMIT_BYTES: 64 * 1024 * 1024 },
      })('/v1/package-requests', {
        token: member.token,
        tenant: member.tenantSlug,
        json: { lockfileVersion: 3, packages },
      });
      expect(roomy.status).toBe(422);
      expect(roomy.headers.get('content-type')).toContain('application/problem+json');
      expect(((await roomy.json()) as { errors: { message: string }[] }).errors[0]!.message).toContain(
        '20000',
      );
      expect(await eventCount()).toBe(before);
      expect((await call(member, '/v1/packages')).status).toBe(200);
    });

    it('approving needs packages:approve (403), another tenant’s package is a 404, and a package still in the pipeline cannot be approved (409)', async () => {
      const submitted = await call(member, '/v1/package-requests', { json: lockfile });
      // Drive the pipeline's first step by hand: the request becomes its packages.
      const [event] = await t.store.readStream(requestStreamId(submitted.body.id));
      await packagePipeline.handle(
        event!,
        processContext('packagePipeline', event!, {
          store: t.store,
          db: t.database.db as never,
          logger: console,
        }),
      );
      const path = `/v1/packages/${encodeURIComponent('@types/ms@0.7.34')}`;
      const read = await call(member, path, {
        headers: { 'x-min-position': (await lastWritten(t.database.db)).toString() },
      });
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({
        spec: '@types/ms@0.7.34',
        status: 'received',
        lockfile_license: 'MIT',
      });
      expect((await call(member, `${path}/approve`, { json: { reason: 'ok' } })).status).toBe(403);
      expect((await call(outsider, `${path}/approve`, { json: { reason: 'ok' } })).status).toBe(404);
      expect((await call(outsider, path)).status).toBe(404);
      const before = await eventCount();
      const early = await call(approver, `${path}/approve`, { json: { reason: 'ok' } });
      expect(early.status).toBe(409);
      expect(await eventCount()).toBe(before);
      expect((await call(approver, `${path}/approve`, { json: {} })).status).toBe(400);
      const list = await call(member, '/v1/packages?status=received&q=ms');
      expect(list.body.items.map((p: { spec: string }) => p.spec).sort()).toEqual([
        '@types/ms@0.7.34',
        'ms@2.0.0',
        'ms@2.1.3',
      ]);
      expect((await call(member, '/v1/packages?status=bogus')).status).toBe(400);
      const first = await call(member, '/v1/packages?limit=3');
      expect(first.body.items).toHaveLength(3);
      const second = await call(member, `/v1/packages?limit=3&cursor=${first.body.next_cursor}`);
      expect(second.body.items).toHaveLength(2);
      expect(second.body.next_cursor).toBeNull();
      const seen = [...first.body.items, ...second.body.items].map((p: { spec: string }) => p.spec);
      expect(new Set(seen).size).toBe(5);
      expect((await call(member, '/v1/packages?cursor=not-a-cursor')).status).toBe(400);
      const requests = await call(member, '/v1/package-requests?limit=1');
      expect(requests.body.items).toHaveLength(1);
      expect(
        (await call(member, `/v1/package-requests?limit=1&cursor=${requests.body.next_cursor}`)).body.items,
      ).toHaveLength(1);
    });

    it('policy: everyone reads it (version 0 is the default); only admins and owners change it, with If-Match (412), each change a version', async () => {
      const current = await call(member, '/v1/policy');
      expect(current.body).toMatchObject({ version: 0, policy: defaultPolicy });
      const changed = { ...defaultPolicy, mode: 'warn', auto_approve_clean: false };
      expect((await call(member, '/v1/policy', { method: 'PUT', json: changed })).status).toBe(403);
      expect(
        (await call(admin, '/v1/policy', { method: 'PUT', json: { ...changed, mode: 'loud' } })).status,
      ).toBe(400);
      const put = await call(admin, '/v1/policy', {
        method: 'PUT',
        json: changed,
        headers: { 'if-match': current.headers.get('etag')! },
      });
      expect(put.status, JSON.stringify(put.body)).toBe(200);
      expect(put.body).toMatchObject({ version: 1, policy: changed, updated_by: admin.userId });
      const stale = await call(admin, '/v1/policy', {
        method: 'PUT',
        json: defaultPolicy,
        headers: { 'if-match': current.headers.get('etag')! },
      });
      expect(stale.status).toBe(412);
      const byOwner = await call(owner, '/v1/policy', { method: 'PUT', json: defaultPolicy });
      expect(byOwner.status, JSON.stringify(byOwner.body)).toBe(200);
      expect(byOwner.body).toMatchObject({ version: 2, updated_by: owner.userId });
      expect((await call(outsider, '/v1/policy')).body.version).toBe(0);
    });

    it('an approver reads the policy but cannot change it (403, nothing appended): approvals stay per package, on the record', async () => {
      const read = await call(approver, '/v1/policy');
      expect(read.status).toBe(200);
      // A policy that lets everything through without an approver: what an approver must not set.
      const wholesale = {
        ...read.body.policy,
        mode: 'warn',
        auto_approve_clean: true,
        licenses: { ...read.body.policy.licenses, deny: [] },
      };
      const before = await eventCount();
      const attempts = [
        await call(approver, '/v1/policy', { method: 'PUT', json: wholesale }),
        await call(approver, '/v1/policy', {
          method: 'PUT',
          json: wholesale,
          headers: { 'if-match': read.headers.get('etag')! },
        }),
      ];
      for (const refused of attempts) {
        expect(refused.status).toBe(403);
        expect(refused.type).toContain('application/problem+json');
        expect(JSON.stringify(refused.body)).toContain('packages:manage');
      }
      // There is no other way to change it: no PATCH.
      expect((await call(approver, '/v1/policy', { method: 'PATCH', json: { mode: 'warn' } })).status).toBe(
        404,
      );
      expect(await eventCount()).toBe(before);
      expect((await call(member, '/v1/policy')).body).toEqual(read.body);
    });

    it('stats are per tenant for its approvers; workers are the platform’s', async () => {
      const stats = await call(approver, '/v1/admin/stats');
      expect(stats.status).toBe(200);
      expect(stats.body.packages.counts.received).toBeGreaterThan(0);
      expect((await call(outsider, '/v1/admin/stats')).body.packages.counts).toEqual({});
      expect((await call(member, '/v1/admin/stats')).status).toBe(403);
      expect((await call(approver, '/v1/admin/workers')).status).toBe(403);
    });
  });
}
