import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue, type JobTables } from '../../src/processes/runtime/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

type TableView = {
  table: string;
  rows: number | null;
  dead_rows: number;
  inserted_since_vacuum: number;
  last_vacuum_at: string | null;
  due: string | null;
};

/** The job queue's churn: jobs inserted, then deleted once done. */
async function churnJobs(t: TestApp, count: number) {
  const db = t.database.db as unknown as Kysely<JobTables>;
  await enqueue(
    db,
    Array.from({ length: count }, (_, i) => ({
      id: crypto.randomUUID(),
      queue: 'admin-tables-test',
      kind: 'churn',
      subject: `subject-${i}`,
      payload: { i },
    })),
  );
  await db.deleteFrom('warden_jobs').where('queue', '=', 'admin-tables-test').execute();
}

describe('table upkeep over HTTP (PGlite, where no autovacuum runs)', () => {
  let t: TestApp;
  let root: string;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    root = (await t.superadmin()).token;
  });
  afterAll(async () => {
    await t?.dispose();
  });
  const tables = async () => {
    const res = await t.request('/v1/admin/tables', { token: root });
    expect(res.status).toBe(200);
    return ((await res.json()) as { items: TableView[] }).items;
  };
  const jobs = async () => (await tables()).find((table) => table.table === 'public.warden_jobs');

  it('shows each table’s dead rows and what is due, keeps them up on request, and then nothing is due', async () => {
    await churnJobs(t, 2000);
    const before = await jobs();
    expect(before).toMatchObject({ dead_rows: expect.any(Number), due: expect.stringMatching(/^vacuum/) });
    expect(before?.dead_rows).toBeGreaterThan(1000);
    const res = await t.request('/v1/admin/tables/upkeep', { method: 'POST', token: root });
    expect(res.status).toBe(200);
    const { done } = (await res.json()) as { done: { table: string; action: string; ms: number }[] };
    expect(done).toContainEqual(
      expect.objectContaining({ table: 'public.warden_jobs', action: expect.stringMatching(/^vacuum/) }),
    );
    const after = await jobs();
    expect(after).toMatchObject({ dead_rows: 0, due: null, last_vacuum_at: expect.any(String) });
  });

  it('is the platform superadmin’s alone: a tenant’s owner gets 403, no token 401, and nothing runs', async () => {
    const owner = await t.user({ role: 'owner' });
    await churnJobs(t, 2000);
    const refused = await t.request('/v1/admin/tables/upkeep', {
      method: 'POST',
      token: owner.token,
      tenant: owner.tenantSlug,
    });
    expect(refused.status).toBe(403);
    expect(
      (await t.request('/v1/admin/tables', { token: owner.token, tenant: owner.tenantSlug })).status,
    ).toBe(403);
    expect((await t.request('/v1/admin/tables/upkeep', { method: 'POST' })).status).toBe(401);
    // The refused calls kept nothing up: the churn is still due.
    expect((await jobs())?.due).toMatch(/^vacuum/);
  });
});

for (const kind of databaseKinds) {
  describe(`table upkeep over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let root: string;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      root = (await t.superadmin()).token;
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('lists the database’s own tables (its schema, not another test’s) and the catalogs, and runs a pass', async () => {
      const res = await t.request('/v1/admin/tables', { token: root });
      expect(res.status).toBe(200);
      const { items } = (await res.json()) as { items: TableView[] };
      const names = items.map((table) => table.table);
      expect(names).toContain(`${t.database.schema}.warden_events`);
      expect(names).toContain('pg_catalog.pg_class');
      expect(
        names.every((name) => name.startsWith(`${t.database.schema}.`) || name.startsWith('pg_catalog.')),
      ).toBe(true);
      const pass = await t.request('/v1/admin/tables/upkeep', { method: 'POST', token: root });
      expect(pass.status).toBe(200);
    });
  });
}
