import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RequestOptions, type SignedInUser, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

type App = Awaited<ReturnType<typeof testApp>>;
let counter = 0;
const slug = (base = 'acme') => `${base}-${Date.now().toString(36)}-${counter++}`;

for (const kind of databaseKinds) {
  describe(`tenants over HTTP (${kind.name})`, () => {
    let t: App;
    let root: SignedInUser;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      root = await t.superadmin();
    });
    /** As the platform superadmin, who alone creates and lists tenants. */
    const request = (path: string, init: RequestOptions = {}) =>
      t.request(path, { token: root.token, ...init });
    afterAll(async () => {
      await t.dispose();
    });

    // Counted in the test's own schema: readAll/headPosition stop at the server-wide snapshot
    // horizon, which other sessions on a shared server hold back.
    const stored = async (type?: string) => {
      let q = t.database.db.selectFrom('warden_events').select((eb) => eb.fn.countAll<string>().as('n'));
      if (type) q = q.where('type', '=', type);
      return Number((await q.executeTakeFirstOrThrow()).n);
    };

    async function create(body: Record<string, unknown> = {}) {
      const res = await request('/v1/tenants', {
        method: 'POST',
        json: { slug: slug(), name: 'Acme', ...body },
      });
      expect(res.status, await res.clone().text()).toBe(201);
      return {
        res,
        body: (await res.json()) as { id: string; slug: string; position: string; revision: number },
      };
    }

    it('creates a tenant: 201 with Location, ETag, position and request id; the list shows it', async () => {
      const { res, body } = await create({ plan: 'basic' });
      expect(res.headers.get('location')).toBe(`/v1/tenants/${body.id}`);
      expect(res.headers.get('etag')).toBe('"0"');
      expect(res.headers.get('x-position')).toBe(body.position);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(body).toMatchObject({ plan: 'basic', status: 'active', revision: 0 });

      const list = await request(`/v1/tenants?q=${body.slug}`, {
        headers: { 'x-min-position': body.position },
      });
      expect(list.status).toBe(200);
      const page = (await list.json()) as { items: { id: string }[] };
      expect(page.items.map((i) => i.id)).toEqual([body.id]);
    });

    it('lists each tenant with its member count (seats held), kept by the seat events', async () => {
      const { body } = await create();
      let position = body.position;
      // Tenant resolution reads the tenant list: the new tenant must be in it before a request names it.
      await t.engine.waitFor(['tenantList'], BigInt(position), 5000);
      for (const name of ['ann', 'bob']) {
        const res = await t.request('/v1/auth/register', {
          tenant: body.slug,
          json: { email: `${name}@example.com`, password: 'plum-orbit-kettle-47', name },
        });
        expect(res.status).toBe(202);
        position = (await t.registered(body.id, `${name}@example.com`)).position;
      }
      const list = await request(`/v1/tenants?q=${body.slug}`, { headers: { 'x-min-position': position } });
      expect(((await list.json()) as { items: { users: number }[] }).items).toMatchObject([{ users: 2 }]);
    });

    it('renames, changes plan, suspends and reactivates through commands, each visible to the next read', async () => {
      const { body } = await create();
      const patch = await request(`/v1/tenants/${body.id}`, {
        method: 'PATCH',
        headers: { 'if-match': '"0"' },
        json: { name: 'Acme Corp', plan: 'premium' },
      });
      expect(patch.status).toBe(200);
      expect(patch.headers.get('etag')).toBe('"2"');
      const suspend = await request(`/v1/tenants/${body.id}/suspend`, {
        method: 'POST',
        json: { reason: 'unpaid' },
      });
      expect(suspend.status).toBe(200);
      const position = suspend.headers.get('x-position')!;
      const suspended = await request(`/v1/tenants?status=suspended&q=${body.slug}`, {
        headers: { 'x-min-position': position },
      });
      expect(((await suspended.json()) as { items: unknown[] }).items).toMatchObject([
        { id: body.id, name: 'Acme Corp', plan: 'premium', status: 'suspended', revision: 3 },
      ]);
      const reactivate = await request(`/v1/tenants/${body.id}/reactivate`, { method: 'POST' });
      expect(reactivate.status).toBe(200);
      const read = await request(`/v1/tenants/${body.id}`);
      expect(read.headers.get('etag')).toBe('"4"');
      expect(await read.json()).toMatchObject({ status: 'active', name: 'Acme Corp' });
    });

    it('refuses a stale If-Match with 412 and the current ETag, and loses nothing', async () => {
      const { body } = await create();
      await request(`/v1/tenants/${body.id}`, { method: 'PATCH', json: { name: 'First' } });
      const stale = await request(`/v1/tenants/${body.id}`, {
        method: 'PATCH',
        headers: { 'if-match': '"0"' },
        json: { name: 'Second' },
      });
      expect(stale.status).toBe(412);
      expect(stale.headers.get('content-type')).toBe('application/problem+json');
      expect(stale.headers.get('etag')).toBe('"1"');
      const read = await request(`/v1/tenants/${body.id}`);
      expect(await read.json()).toMatchObject({ name: 'First', revision: 1 });
    });

    it('concurrent edits with one If-Match: exactly one wins, the others get 412', async () => {
      const { body } = await create();
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          request(`/v1/tenants/${body.id}`, {
            method: 'PATCH',
            headers: { 'if-match': '"0"' },
            json: { name: `N${i}` },
          }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412, 412, 412]);
      expect(await t.store.readStream(`tenancy.Tenant-${body.id}`)).toHaveLength(2);
    });

    it('takes a slug once: a second creation is 409', async () => {
      const s = slug();
      await request('/v1/tenants', { method: 'POST', json: { slug: s, name: 'One' } });
      const again = await request('/v1/tenants', { method: 'POST', json: { slug: s, name: 'Two' } });
      expect(again.status).toBe(409);
      expect(((await again.json()) as { type: string }).type).toMatch(/conflict$/);
    });

    it('replays an Idempotency-Key: same response, one tenant; another body with the key is 422', async () => {
      const body = { slug: slug(), name: 'Once' };
      const headers = { 'idempotency-key': `key-${slug()}` };
      const first = await request('/v1/tenants', { method: 'POST', headers, json: body });
      const second = await request('/v1/tenants', { method: 'POST', headers, json: body });
      expect(first.status).toBe(201);
      expect(second.status).toBe(201);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(await second.text()).toBe(await first.text());
      expect(second.headers.get('location')).toBe(first.headers.get('location'));
      const other = await request('/v1/tenants', {
        method: 'POST',
        headers,
        json: { ...body, name: 'Other' },
      });
      expect(other.status).toBe(422);
      const created = await t.database.db
        .selectFrom('warden_events')
        .select('id')
        .where('type', '=', 'TenantCreated')
        .where(sql<boolean>`data->>'slug' = ${body.slug}`)
        .execute();
      expect(created).toHaveLength(1);
    });

    it('pages with a cursor that stays stable while tenants are added', async () => {
      const prefix = slug('page');
      let position = '0';
      for (let i = 0; i < 5; i++) position = (await create({ slug: `${prefix}-${i}` })).body.position;
      const seen: string[] = [];
      let cursor: string | null = null;
      let added = false;
      do {
        const url: string = `/v1/tenants?q=${prefix}&limit=2&sort=slug${cursor ? `&cursor=${cursor}` : ''}`;
        const page = (await (await request(url, { headers: { 'x-min-position': position } })).json()) as {
          items: { slug: string }[];
          next_cursor: string | null;
        };
        seen.push(...page.items.map((i) => i.slug));
        if (!added) {
          added = true;
          await create({ slug: `${prefix}-9` }); // sorts after everything seen so far
        }
        cursor = page.next_cursor;
      } while (cursor);
      const expected = [0, 1, 2, 3, 4, 9].map((i) => `${prefix}-${i}`);
      // The new tenant may or may not have reached the read model; nothing is skipped or repeated.
      expect(seen.filter((s) => s !== `${prefix}-9`)).toEqual(expected.slice(0, 5));
      expect(new Set(seen).size).toBe(seen.length);
    });

    describe('bad input is a clear 4xx problem, never a 500, and appends nothing', () => {
      const cases: [string, string, RequestInit & { json?: unknown }, number, string?][] = [
        [
          'malformed JSON',
          '/v1/tenants',
          { method: 'POST', body: '{"slug": "x",', headers: { 'content-type': 'application/json' } },
          400,
          '(body)',
        ],
        ['wrong type', '/v1/tenants', { method: 'POST', json: { slug: 42, name: 'X' } }, 400, 'slug'],
        [
          'unknown field',
          '/v1/tenants',
          { method: 'POST', json: { slug: 'good-slug', name: 'X', colour: 'red' } },
          400,
          'colour',
        ],
        ['bad slug', '/v1/tenants', { method: 'POST', json: { slug: 'Bad Slug', name: 'X' } }, 400, 'slug'],
        ['reserved slug', '/v1/tenants', { method: 'POST', json: { slug: 'admin', name: 'X' } }, 400, 'slug'],
        [
          'empty name',
          '/v1/tenants',
          { method: 'POST', json: { slug: 'good-slug', name: '   ' } },
          400,
          'name',
        ],
        [
          'unknown plan',
          '/v1/tenants',
          { method: 'POST', json: { slug: 'good-slug', name: 'X', plan: 'gold' } },
          400,
          'plan',
        ],
        ['missing body', '/v1/tenants', { method: 'POST' }, 400],
        [
          'not JSON',
          '/v1/tenants',
          {
            method: 'POST',
            body: 'slug=x',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          },
          415,
          'header.content-type',
        ],
        [
          'oversize body',
          '/v1/tenants',
          { method: 'POST', json: { slug: 'good-slug', name: 'x'.repeat(70 * 1024) } },
          413,
        ],
        [
          'bad If-Match',
          '/v1/tenants/00000000-0000-4000-8000-000000000000',
          { method: 'PATCH', headers: { 'if-match': 'garbage' }, json: { name: 'X' } },
          400,
          'header.If-Match',
        ],
        [
          'empty patch',
          '/v1/tenants/00000000-0000-4000-8000-000000000000',
          { method: 'PATCH', json: {} },
          400,
        ],
        [
          'unknown tenant',
          '/v1/tenants/00000000-0000-4000-8000-000000000000',
          { method: 'PATCH', json: { name: 'X' } },
          404,
        ],
        ['id not a uuid', '/v1/tenants/not-a-uuid', {}, 400, 'path.id'],
        ['unknown query parameter', '/v1/tenants?stauts=active', {}, 400, 'query.stauts'],
        ['limit out of range', '/v1/tenants?limit=1000', {}, 400, 'query.limit'],
        ['forged cursor', '/v1/tenants?cursor=bm9wZQ', {}, 400, 'query.cursor'],
        [
          'bad X-Min-Position',
          '/v1/tenants',
          { headers: { 'x-min-position': 'soon' } },
          400,
          'header.X-Min-Position',
        ],
        [
          'bad Idempotency-Key',
          '/v1/tenants',
          { method: 'POST', headers: { 'idempotency-key': '' }, json: { slug: 'good-slug', name: 'X' } },
          400,
          'header.Idempotency-Key',
        ],
        ['unknown route', '/v1/nothing-here', {}, 404],
      ];
      it.each(cases)('%s', async (_name, path, init, status, field) => {
        const before = await stored();
        const res = await request(path, init);
        expect(res.status).toBe(status);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        const problem = (await res.json()) as {
          type: string;
          title: string;
          status: number;
          errors?: { path: string }[];
        };
        expect(problem).toMatchObject({ status });
        // A page Warden serves itself about the problem (relative to the URL called).
        expect(problem.type).toMatch(/^\/problems\/[a-z-]+$/);
        if (field) expect(problem.errors?.map((e) => e.path)).toContain(field);
        expect(await stored()).toBe(before);
      });
    });

    it('writes structured log lines that carry the request id and no secrets', async () => {
      const res = await request('/v1/tenants', {
        method: 'POST',
        headers: { 'x-request-id': 'trace-abc.123', authorization: 'Bearer super-secret-token' },
        json: { slug: slug(), name: 'Logged', password: 'hunter2-hunter2' },
      });
      expect(res.headers.get('x-request-id')).toBe('trace-abc.123');
      const line = t.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.requestId === 'trace-abc.123');
      expect(line).toMatchObject({ method: 'POST', path: '/v1/tenants', status: 400 });
      const all = t.lines.join('\n');
      expect(all).not.toContain('super-secret-token');
      expect(all).not.toContain('hunter2');
    });
  });
}
