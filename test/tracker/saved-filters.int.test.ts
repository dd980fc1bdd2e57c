import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

for (const kind of databaseKinds) {
  describe(`saved filters (${kind.name})`, () => {
    let t: TestApp;
    let ann: SignedInUser;
    let bob: SignedInUser;
    let outsider: SignedInUser;
    let seen = '0';

    const call = async (
      user: SignedInUser,
      path: string,
      init: { json?: unknown; method?: string; headers?: Record<string, string> } = {},
    ) => {
      const res = await t.request(path, {
        token: user.token,
        tenant: user.tenantSlug,
        ...init,
        headers: { 'x-min-position': seen, ...init.headers },
      });
      const position = res.headers.get('x-position');
      if (position && BigInt(position) > BigInt(seen)) seen = position;
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as LooseJson };
    };
    const save = (user: SignedInUser, json: unknown, headers: Record<string, string> = {}) =>
      call(user, '/v1/saved-filters', { method: 'POST', json, headers });
    // Counted in the table, not through readAll: on a shared PostgreSQL readAll stops below the oldest
    // transaction running anywhere on the server, so an event committed just now could be missing.
    const eventsOf = async (type: string) =>
      Number(
        (
          await sql<{ n: string }>`select count(*) as n from warden_events where type = ${type}`.execute(
            t.database.db,
          )
        ).rows[0]?.n,
      );

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      ann = await t.user({ role: 'member' });
      bob = await t.user({ tenant: ann.tenantSlug, role: 'admin' });
      outsider = await t.user({ role: 'owner' });
      const created = await call(ann, '/v1/projects', {
        method: 'POST',
        json: { key: 'WARD', name: 'Warden' },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    });
    afterAll(async () => {
      await t.dispose();
    });

    it('saves a filter as an event, answers where its list is, and lists only the owner’s filters', async () => {
      const res = await save(ann, {
        name: 'My open bugs',
        target: 'issues',
        project_id: 'WARD',
        query: '?status=open,in_progress&type=bug&sort=-priority',
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.headers.get('location')).toBe(`/v1/saved-filters/${res.body.id}`);
      expect(res.body).toMatchObject({
        name: 'My open bugs',
        target: 'issues',
        query: 'status=open%2Cin_progress&type=bug&sort=-priority',
      });
      expect(res.body.href).toBe(`/v1/projects/${res.body.project_id}/issues?${res.body.query}`);
      // The href opens: the list accepts the saved query.
      expect((await call(ann, res.body.href)).status).toBe(200);
      const projects = await save(ann, { name: 'Money', target: 'projects', query: 'label=money&q=pay' });
      expect(projects.status, JSON.stringify(projects.body)).toBe(201);
      expect(projects.body.href).toBe('/v1/projects?label=money&q=pay');
      expect((await call(ann, projects.body.href)).status).toBe(200);

      const mine = await call(ann, '/v1/saved-filters');
      expect(mine.body.items.map((f: LooseJson) => f.name)).toEqual(['My open bugs', 'Money']);
      expect((await call(ann, '/v1/saved-filters?target=projects')).body.items).toHaveLength(1);
      expect((await call(ann, `/v1/saved-filters/${res.body.id}`)).body.name).toBe('My open bugs');
      // Another user of the same tenant (an admin, even) sees none of them.
      expect((await call(bob, '/v1/saved-filters')).body.items).toEqual([]);
      expect((await call(bob, `/v1/saved-filters/${res.body.id}`)).status).toBe(404);
      const row = await t.database.db
        .selectFrom('saved_filter_list' as never)
        .select(['tenant_id' as never, 'owner_id' as never])
        .where('id' as never, '=', res.body.id as never)
        .executeTakeFirst();
      expect(row).toEqual({ tenant_id: ann.tenantId, owner_id: ann.userId });
    });

    it('saves only a query its list would accept (the list’s own rules), naming the field', async () => {
      const before = await eventsOf('SavedFilterCreated');
      const cases: [unknown, string][] = [
        [{ name: 'x', target: 'issues', query: 'status=sleeping' }, 'query.status'],
        [{ name: 'x', target: 'issues', query: 'sort=relevance' }, 'query.sort'],
        [{ name: 'x', target: 'issues', query: 'q=%2B%2B' }, 'query.q'],
        [{ name: 'x', target: 'issues', query: 'cursor=abc' }, 'query.cursor'],
        [{ name: 'x', target: 'issues', query: 'bogus=1' }, 'query.bogus'],
        [{ name: 'x', target: 'issues', query: 'type=bug&type=task' }, 'query.type'],
        [{ name: 'x', target: 'projects', query: 'status=open' }, 'query.status'],
        [{ name: 'x', target: 'projects', project_id: 'WARD', query: '' }, 'project_id'],
        [{ name: 'x', target: 'issues', project_id: 'NOPE', query: '' }, 'project_id'],
        [{ name: '', target: 'issues' }, 'name'],
        [{ name: 'x', target: 'boards' }, 'target'],
        [{ name: 'x', target: 'issues', extra: true }, 'extra'],
      ];
      for (const [body, field] of cases) {
        const res = await save(ann, body);
        expect([400, 422], JSON.stringify(body)).toContain(res.status);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(
          res.body.errors.map((e: LooseJson) => e.path),
          JSON.stringify(body),
        ).toContain(field);
      }
      expect(await eventsOf('SavedFilterCreated')).toBe(before);
    });

    it('keeps names unique per user, and another tenant’s project is not one to filter', async () => {
      expect((await save(ann, { name: 'my open BUGS', target: 'issues' })).status).toBe(409);
      // Bob may use the same name: names are per user.
      expect((await save(bob, { name: 'My open bugs', target: 'issues' })).status).toBe(201);
      const theirs = await call(outsider, '/v1/projects', {
        method: 'POST',
        json: { key: 'THEM', name: 'Them' },
      });
      expect(theirs.status).toBe(201);
      const res = await save(ann, { name: 'Theirs', target: 'issues', project_id: theirs.body.id });
      expect(res.status).toBe(422);
      expect(res.body.errors[0].path).toBe('project_id');
    });

    it('deletes only the owner’s filter: another user or tenant gets 404 and nothing is appended', async () => {
      const res = await save(ann, { name: 'Temporary', target: 'issues', query: 'assignee=none' });
      expect(res.status).toBe(201);
      const before = await eventsOf('SavedFilterDeleted');
      expect((await call(bob, `/v1/saved-filters/${res.body.id}`, { method: 'DELETE' })).status).toBe(404);
      const foreign = await call(outsider, `/v1/saved-filters/${res.body.id}`, { method: 'DELETE' });
      expect(foreign.status).toBe(404);
      expect((await call(outsider, `/v1/saved-filters/${res.body.id}`)).status).toBe(404);
      expect(await eventsOf('SavedFilterDeleted')).toBe(before);
      expect((await call(ann, `/v1/saved-filters/${res.body.id}`, { method: 'DELETE' })).status).toBe(204);
      expect(await eventsOf('SavedFilterDeleted')).toBe(before + 1);
      // Deleting it again is a 404 and appends nothing more.
      expect((await call(ann, `/v1/saved-filters/${res.body.id}`, { method: 'DELETE' })).status).toBe(404);
      expect(await eventsOf('SavedFilterDeleted')).toBe(before + 1);
      expect((await call(ann, `/v1/saved-filters/${res.body.id}`)).status).toBe(404);
      const names = (await call(ann, '/v1/saved-filters')).body.items.map((f: LooseJson) => f.name);
      expect(names).not.toContain('Temporary');
      expect((await call(ann, '/v1/saved-filters/not-a-uuid')).status).toBe(400);
    });

    it('answers a replayed save (same Idempotency-Key) with the first answer and one filter', async () => {
      const before = await eventsOf('SavedFilterCreated');
      const key = crypto.randomUUID();
      const body = { name: 'Replayed', target: 'projects', query: 'archived=false' };
      const first = await save(ann, body, { 'idempotency-key': key });
      const again = await save(ann, body, { 'idempotency-key': key });
      expect(first.status).toBe(201);
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(first.body.id);
      expect(await eventsOf('SavedFilterCreated')).toBe(before + 1);
    });

    it('holds the per-user limit under a flood of concurrent saves', async () => {
      const flooder = await t.user({ tenant: ann.tenantSlug, role: 'member' });
      const results = await Promise.all(
        Array.from({ length: 110 }, (_, i) => save(flooder, { name: `Filter ${i}`, target: 'issues' })),
      );
      // Concurrent appends to one user's stream may conflict (409 `concurrent-change`) but never overshoot.
      expect(results.filter((r) => r.status === 201).length).toBeLessThanOrEqual(100);
      expect(results.every((r) => r.status === 201 || r.status === 409)).toBe(true);
      for (let i = 0; (await call(flooder, '/v1/saved-filters?limit=100')).body.items.length < 100; i++) {
        const res = await save(flooder, { name: `More ${i}`, target: 'issues' });
        expect(res.status).toBe(201);
      }
      const over = await save(flooder, { name: 'One too many', target: 'issues' });
      expect(over.status).toBe(409);
      expect(over.body.rule).toBe('saved_filter_limit');
      const page = await call(flooder, '/v1/saved-filters?limit=100');
      expect(page.body.items).toHaveLength(100);
      expect(page.body.next_cursor).toBe(null);
    });
  });
}
