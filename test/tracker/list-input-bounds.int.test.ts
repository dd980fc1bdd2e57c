import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

/** A cursor as the lists encode them (unsigned: anyone can write one). */
const cursor = (s: string, k: string) =>
  btoa(String.fromCodePoint(...new TextEncoder().encode(JSON.stringify({ s, k, i: crypto.randomUUID() }))))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');

/**
 * Values the lists' own checks let through but PostgreSQL refuses: each used to reach the database
 * and answer 500. They are a 400 naming the field.
 */
for (const kind of databaseKinds) {
  describe(`list inputs the database cannot take (${kind.name})`, () => {
    let t: TestApp;
    let owner: SignedInUser;

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      owner = await t.user({ role: 'owner' });
      const res = await t.request('/v1/projects', {
        token: owner.token,
        tenant: owner.tenantSlug,
        json: { key: 'WARD', name: 'Warden' },
      });
      expect(res.status).toBe(201);
    });
    afterAll(async () => {
      await t.dispose();
    });

    it('refuses forged cursors and year 0000 with a 400, never a 500', async () => {
      const cases: [string, string][] = [
        [`/v1/issues?sort=due_date&cursor=${cursor('due_date|', '2024-13-45')}`, 'query.cursor'],
        [`/v1/issues?sort=-due_date&cursor=${cursor('-due_date|', '0000-01-01')}`, 'query.cursor'],
        [
          `/v1/issues?sort=created_at&cursor=${cursor('created_at|', '-200000-01-01T00:00:00Z')}`,
          'query.cursor',
        ],
        [
          `/v1/projects/WARD/issues?sort=updated_at&cursor=${cursor('updated_at|', '+275000-01-01T00:00:00Z')}`,
          'query.cursor',
        ],
        [`/v1/projects?sort=name&cursor=${cursor('name|', 'a\u0000b')}`, 'query.cursor'],
        [`/v1/saved-filters?cursor=${cursor('created_at', '-200000-01-01T00:00:00Z')}`, 'query.cursor'],
        ['/v1/issues?created_from=0000-01-01', 'query.created_from'],
        [`/v1/issues?updated_to=${encodeURIComponent('0001-01-01T00:30:00+01:00')}`, 'query.updated_to'],
        ['/v1/projects?created_to=0000-06-30', 'query.created_to'],
        ['/v1/audit?from=0000-01-01T00:00:00Z', 'query.from'],
        [`/v1/audit?cursor=${cursor('-position', '9999999999999999999')}`, 'query.cursor'],
      ];
      for (const [path, field] of cases) {
        const res = await t.request(path, { token: owner.token, tenant: owner.tenantSlug });
        const body = (await res.json()) as LooseJson;
        expect(res.status, `${path}: ${JSON.stringify(body)}`).toBe(400);
        expect(
          body.errors.map((e: { path: string }) => e.path),
          path,
        ).toContain(field);
      }
      // A saved filter holds only what its list accepts: the same dates are refused there too.
      const saved = await t.request('/v1/saved-filters', {
        token: owner.token,
        tenant: owner.tenantSlug,
        json: { name: 'ancient', target: 'issues', query: 'created_from=0000-01-01' },
      });
      expect(saved.status).toBe(422);
      expect(((await saved.json()) as LooseJson).errors).toEqual([
        expect.objectContaining({ path: 'query.created_from' }),
      ]);
    });
  });
}
