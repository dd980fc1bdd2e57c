import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userStreamId } from '../../src/commands/identity/index.ts';
import { tenantStreamId } from '../../src/commands/tenancy/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

type Entry = {
  position: string;
  stream_id: string;
  entity_type: string;
  type: string;
  actor_id: string | null;
  request_id: string | null;
  correlation_id: string | null;
  summary: string;
  tenant_id: string | null;
  recorded_at: string;
};
type Page = { items: Entry[]; next_cursor: string | null };
type Problem = { status: number; errors?: { path: string; message: string }[] };

for (const kind of databaseKinds) {
  describe(`audit trail and replay over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let owner: SignedInUser;
    let member: SignedInUser;
    let approver: SignedInUser;
    let other: SignedInUser;
    let root: SignedInUser;
    let position = '';
    const requestId = `audit-req-${crypto.randomUUID()}`;
    const correlation = `audit-corr-${crypto.randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      const home = await t.tenant();
      owner = await t.user({ tenant: home.slug, role: 'owner' });
      member = await t.user({ tenant: home.slug, role: 'member' });
      approver = await t.user({ tenant: home.slug, role: 'approver' });
      other = await t.user({ role: 'owner' });
      root = await t.superadmin();
      // The owner promotes the member: the change the auditors will look for.
      const res = await t.request(`/v1/users/${member.userId}`, {
        method: 'PATCH',
        json: { role: 'operator' },
        token: owner.token,
        tenant: home.slug,
        headers: { 'x-request-id': requestId, 'x-correlation-id': correlation },
      });
      expect(res.status).toBe(200);
      position = res.headers.get('x-position')!;
    });
    afterAll(async () => {
      await t.dispose();
    });

    const get = (path: string, as: SignedInUser, headers: Record<string, string> = {}) =>
      t.request(path, {
        token: as.token,
        tenant: as.tenantSlug,
        headers: { 'x-min-position': position, ...headers },
      });
    const page = async (path: string, as: SignedInUser = owner) => {
      const res = await get(path, as);
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as Page;
    };
    const problem = async (res: Response, status: number) => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      return (await res.json()) as Problem;
    };

    it('shows who did what, with request and correlation ids and a summary', async () => {
      const { items } = await page('/v1/audit');
      const change = items.find((e) => e.type === 'UserRoleChanged');
      expect(change).toMatchObject({
        stream_id: userStreamId(member.userId),
        entity_type: 'identity.User',
        actor_id: owner.userId,
        request_id: requestId,
        correlation_id: correlation,
        tenant_id: owner.tenantId,
        summary: `User ${member.userId} role changed from member to operator`,
      });
      // Newest first, and only this tenant's history.
      expect(items[0]?.type).toBe('UserRoleChanged');
      expect(items.every((e) => e.tenant_id === owner.tenantId)).toBe(true);
      expect(JSON.stringify(items)).not.toContain('argon2');
    });

    it('filters by stream, entity type, actor, event type and time range', async () => {
      const byStream = await page(`/v1/audit?stream=${encodeURIComponent(userStreamId(member.userId))}`);
      expect(byStream.items.map((e) => e.type)).toEqual(['UserRoleChanged', 'UserRegistered']);
      // The owner signed in (a session started) and changed a role.
      expect((await page(`/v1/audit?actor=${owner.userId}`)).items.map((e) => e.type)).toEqual([
        'UserRoleChanged',
        'TokenFamilyIssued',
      ]);
      const byType = await page('/v1/audit?type=UserRegistered,UserRoleChanged');
      expect(byType.items.length).toBe(4);
      const byEntity = await page('/v1/audit?entity_type=identity.TenantMembership');
      expect(byEntity.items.every((e) => e.stream_id.startsWith('identity.TenantMembership-'))).toBe(true);
      expect(byEntity.items.length).toBeGreaterThanOrEqual(3);
      const newest = byStream.items[0]!.recorded_at;
      const later = new Date(Date.parse(newest) + 1).toISOString();
      expect((await page(`/v1/audit?from=${encodeURIComponent(later)}`)).items).toEqual([]);
      expect(
        (await page(`/v1/audit?to=${encodeURIComponent(later)}&type=UserRoleChanged`)).items.length,
      ).toBe(1);
    });

    it('pages with a cursor without losing or repeating an entry', async () => {
      const all = await page('/v1/audit?limit=200');
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const next: Page = await page(`/v1/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...next.items.map((e) => e.position));
        cursor = next.next_cursor;
      } while (cursor);
      expect(seen).toEqual(all.items.map((e) => e.position));
      const oldestFirst = await page('/v1/audit?sort=position&limit=200');
      expect(oldestFirst.items.map((e) => e.position)).toEqual([...seen].reverse());
    });

    it('refuses bad input with a problem naming the field', async () => {
      const reversed = await problem(
        await get('/v1/audit?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', owner),
        400,
      );
      expect(reversed.errors).toContainEqual(expect.objectContaining({ path: 'query.from' }));
      expect((await problem(await get('/v1/audit?limit=201', owner), 400)).errors?.[0]?.path).toBe(
        'query.limit',
      );
      expect((await problem(await get('/v1/audit?from=yesterday', owner), 400)).errors?.[0]?.path).toBe(
        'query.from',
      );
      expect((await problem(await get('/v1/audit?cursor=nonsense', owner), 400)).errors?.[0]?.path).toBe(
        'query.cursor',
      );
      expect((await problem(await get('/v1/audit?colour=red', owner), 400)).errors?.[0]?.path).toBe(
        'query.colour',
      );
    });

    it('is tenant-scoped; only the platform superadmin reads across tenants', async () => {
      const theirs = await page('/v1/audit?limit=200', other);
      expect(theirs.items.some((e) => e.tenant_id === owner.tenantId)).toBe(false);
      expect(theirs.items.length).toBeGreaterThan(0);
      await problem(await get('/v1/audit?all_tenants=true', owner), 403);
      const everything = await page('/v1/audit?all_tenants=true&limit=200', root);
      const tenants = new Set(everything.items.map((e) => e.tenant_id));
      expect(tenants.has(owner.tenantId) && tenants.has(other.tenantId)).toBe(true);
    });

    it('needs audit:read: members are refused, approvers and owners read, strangers are 401', async () => {
      await problem(await get('/v1/audit', member), 403);
      await problem(await get('/v1/audit/export', member), 403);
      await problem(await get(`/v1/audit/streams/${userStreamId(member.userId)}`, member), 403);
      expect((await get('/v1/audit', approver)).status).toBe(200);
      const anonymous = await t.request('/v1/audit', { tenant: owner.tenantSlug });
      expect(anonymous.status).toBe(401);
    });

    it('exports NDJSON as a stream, from /v1/audit/export or by Accept', async () => {
      const all = await page('/v1/audit?sort=position&limit=200');
      for (const res of [
        await get('/v1/audit/export', owner),
        await get('/v1/audit?sort=position', owner, { accept: 'application/x-ndjson' }),
      ]) {
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toContain('application/x-ndjson');
        expect(res.body).toBeInstanceOf(ReadableStream);
        const lines = (await res.text()).trimEnd().split('\n');
        expect(lines.map((l) => (JSON.parse(l) as Entry).position)).toEqual(all.items.map((e) => e.position));
      }
      const filtered = await get(`/v1/audit/export?actor=${owner.userId}&type=UserRoleChanged`, owner);
      expect((await filtered.text()).trimEnd().split('\n').length).toBe(1);
      await problem(
        await get('/v1/audit/export?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', owner),
        400,
      );
    });

    it('replays an entity at a revision, at a time, before it existed, with diffs', async () => {
      const path = `/v1/audit/streams/${encodeURIComponent(userStreamId(member.userId))}`;
      const at0 = (await (await get(`${path}?at=0`, owner)).json()) as {
        state: { role: string };
        revision: number;
      };
      expect(at0).toMatchObject({ revision: 0, state: { role: 'member' } });
      const latest = (await (await get(`${path}?diff=true`, owner)).json()) as {
        state: Record<string, unknown>;
        revision: number;
        steps: { type: string; changes: { path: string; from: unknown; to: unknown }[] }[];
      };
      expect(latest.revision).toBe(1);
      expect(latest.state.role).toBe('operator');
      expect(latest.state).not.toHaveProperty('passwordHash');
      expect(latest.steps[1]?.changes).toContainEqual({ path: 'role', from: 'member', to: 'operator' });
      const before = await get(`${path}?at=2000-01-01T00:00:00Z`, owner);
      expect(before.status).toBe(200);
      expect(await before.json()).toMatchObject({
        revision: -1,
        recorded_at: null,
        state: { exists: false },
      });
      const atNow = (await (
        await get(`${path}?at=${encodeURIComponent(new Date().toISOString())}`, owner)
      ).json()) as {
        revision: number;
      };
      expect(atNow.revision).toBe(1);
    });

    it('replay: malformed at is 400, unknown and foreign streams are 404', async () => {
      const path = `/v1/audit/streams/${encodeURIComponent(userStreamId(member.userId))}`;
      for (const at of ['yesterday', '-1', '2026-01-01', '1.5']) {
        const body = await problem(await get(`${path}?at=${encodeURIComponent(at)}`, owner), 400);
        expect(body.errors?.[0]?.path).toBe('query.at');
      }
      await problem(await get(`/v1/audit/streams/identity.User-${crypto.randomUUID()}`, owner), 404);
      // Another tenant's user, and a tenant stream: as unknown as a stream that does not exist.
      await problem(
        await get(`/v1/audit/streams/${encodeURIComponent(userStreamId(other.userId))}`, owner),
        404,
      );
      await problem(
        await get(`/v1/audit/streams/${encodeURIComponent(userStreamId(owner.userId))}`, other),
        404,
      );
      // The platform superadmin replays any tenant's entity.
      const asRoot = await get(`/v1/audit/streams/${encodeURIComponent(userStreamId(other.userId))}`, root);
      expect(asRoot.status).toBe(200);
      const tenantStream = await get(
        `/v1/audit/streams/${encodeURIComponent(tenantStreamId(other.tenantId))}`,
        root,
      );
      expect(tenantStream.status).toBe(200);
    });
  });
}
