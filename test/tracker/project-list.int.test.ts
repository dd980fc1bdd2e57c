import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

for (const kind of databaseKinds) {
  describe(`the project list: search, filters, sorts, cursor (${kind.name})`, () => {
    let t: TestApp;
    let owner: SignedInUser;
    let outsider: SignedInUser;
    let seen = '0';

    const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
      const res = await t.request(path, {
        token: user.token,
        tenant: user.tenantSlug,
        headers: { 'x-min-position': seen },
        ...init,
      });
      const position = res.headers.get('x-position');
      if (position && BigInt(position) > BigInt(seen)) seen = position;
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as LooseJson };
    };
    const keys = (body: LooseJson) => (body.items as { key: string }[]).map((p) => p.key);

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      owner = await t.user({ role: 'owner' });
      outsider = await t.user({ role: 'owner' });
      const projects = [
        {
          key: 'PAY',
          name: 'Payments gateway',
          description: 'Card processing and refunds',
          labels: ['money'],
        },
        {
          key: 'AUTH',
          name: 'Sign-in',
          description: 'Passwords, tokens and the payment of nothing',
          labels: [],
        },
        { key: 'DOCS', name: 'Documentation', description: 'Guides', labels: ['writing', 'money'] },
        { key: 'OLD', name: 'Legacy payments', description: 'Retired', labels: ['money'] },
        { key: 'WEB', name: 'Website', description: 'Marketing pages', labels: [] },
      ];
      for (const project of projects) {
        const res = await call(owner, '/v1/projects', { method: 'POST', json: project });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      expect((await call(owner, '/v1/projects/OLD', { method: 'DELETE' })).status).toBe(204);
      // The same words in another tenant: never listed here.
      const theirs = await call(outsider, '/v1/projects', {
        method: 'POST',
        json: { key: 'PAY', name: 'Payments elsewhere', labels: ['money'] },
      });
      expect(theirs.status).toBe(201);
    });
    afterAll(async () => {
      await t.dispose();
    });

    it('lists by key by default, and pages by keyset without losing or repeating a project', async () => {
      const all = await call(owner, '/v1/projects');
      expect(keys(all.body)).toEqual(['AUTH', 'DOCS', 'OLD', 'PAY', 'WEB']);
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: LooseJson } = await call(
          owner,
          `/v1/projects?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        paged.push(...keys(page.body));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(paged).toEqual(['AUTH', 'DOCS', 'OLD', 'PAY', 'WEB']);
    });

    it('searches key, name and description by word prefix, best match first, in the caller’s tenant only', async () => {
      const res = await call(owner, '/v1/projects?q=paym');
      expect(res.status).toBe(200);
      // Name matches (weight A) outrank a description match (weight B).
      expect(keys(res.body).slice(0, 2).sort()).toEqual(['OLD', 'PAY']);
      expect(keys(res.body)).toContain('AUTH');
      expect(keys(res.body)).not.toContain('WEB');
      expect(res.body.items[0].rank).toBeGreaterThan(res.body.items.at(-1).rank);
      const both = await call(owner, '/v1/projects?q=payments%20gateway');
      expect(keys(both.body)).toEqual(['PAY']);
      expect(both.body.items[0].id).not.toBe(undefined);
      const theirs = await call(outsider, '/v1/projects?q=paym');
      expect(keys(theirs.body)).toEqual(['PAY']);
      expect(theirs.body.items[0].name).toBe('Payments elsewhere');
    });

    it('filters by archived, labels (all of them) and creation time, and sorts by name or update', async () => {
      expect(keys((await call(owner, '/v1/projects?archived=true')).body)).toEqual(['OLD']);
      expect(keys((await call(owner, '/v1/projects?label=money')).body)).toEqual(['DOCS', 'OLD', 'PAY']);
      expect(keys((await call(owner, '/v1/projects?label=money,writing')).body)).toEqual(['DOCS']);
      expect(keys((await call(owner, '/v1/projects?label=money&archived=false&q=payments')).body)).toEqual([
        'PAY',
      ]);
      expect(keys((await call(owner, '/v1/projects?created_from=2999-01-01')).body)).toEqual([]);
      expect(keys((await call(owner, '/v1/projects?sort=-name')).body)).toEqual([
        'WEB',
        'AUTH',
        'PAY',
        'OLD',
        'DOCS',
      ]);
      // Archiving touched OLD last.
      expect(keys((await call(owner, '/v1/projects?sort=-updated_at')).body)[0]).toBe('OLD');
      const byName: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: LooseJson } = await call(
          owner,
          `/v1/projects?sort=name&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        byName.push(...keys(page.body));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(byName).toEqual(['DOCS', 'OLD', 'PAY', 'AUTH', 'WEB']);
    });

    it('refuses a bad query with a 400 naming the field, never a 500', async () => {
      const cases: [string, string][] = [
        ['/v1/projects?sort=priority', 'query.sort'],
        ['/v1/projects?sort=relevance', 'query.sort'],
        ['/v1/projects?q=%20%2B%2B', 'query.q'],
        ['/v1/projects?label=Not%20A%20Label', 'query.label'],
        ['/v1/projects?created_from=yesterday', 'query.created_from'],
        ['/v1/projects?status=open', 'query.status'],
        ['/v1/projects?cursor=garbage', 'query.cursor'],
      ];
      for (const [path, field] of cases) {
        const res = await call(owner, path);
        expect(res.status, path).toBe(400);
        expect(
          res.body.errors.map((e: { path: string }) => e.path),
          path,
        ).toContain(field);
      }
      // A cursor of one sort (or search) is not one of another.
      const first = await call(owner, '/v1/projects?limit=1');
      const other = await call(owner, `/v1/projects?limit=1&sort=-name&cursor=${first.body.next_cursor}`);
      expect(other.status).toBe(400);
      expect(other.body.type).toMatch(/bad-cursor$/);
      // A forged cursor whose key the sort cannot hold is a 400 too.
      const forged = btoa(JSON.stringify({ s: 'created_at|', k: 'not a date', i: crypto.randomUUID() }));
      const res = await call(owner, `/v1/projects?sort=created_at&cursor=${forged.replace(/=+$/, '')}`);
      expect(res.status).toBe(400);
    });
  });
}
