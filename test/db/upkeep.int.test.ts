import { type Kysely, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../src/db/database.ts';
import {
  keepUpTables,
  readTableActivity,
  startTableUpkeep,
  type UpkeepDone,
  upkeepPass,
} from '../../src/db/upkeep.ts';
import { enqueue, type JobTables } from '../../src/processes/runtime/index.ts';
import { freshPGlite, type TestDatabase } from '../support/databases.ts';
import { databaseUrl } from '../support/postgres.ts';

/*
 * PGlite runs no autovacuum: these run the upkeep that stands in for it on a real PGlite, and compare
 * with the same work on a PGlite without it.
 */

const opened: TestDatabase[] = [];
afterAll(async () => {
  for (const t of opened) await t.dispose().catch(() => undefined);
});
const fresh = async () => {
  const t = await freshPGlite();
  opened.push(t);
  return t;
};
const untyped = (t: TestDatabase) => t.database.db as unknown as Kysely<unknown>;
const sizeOf = async (t: TestDatabase, table: string) =>
  Number(
    (
      await sql<{ bytes: string }>`select pg_total_relation_size(${table}::regclass) as bytes`.execute(
        untyped(t),
      )
    ).rows[0]!.bytes,
  );

/** What the job queue does: every job inserted, then deleted once done. */
async function churnJobs(t: TestDatabase, round: number) {
  const db = t.database.db as unknown as Kysely<JobTables>;
  await enqueue(
    db,
    Array.from({ length: 500 }, (_, i) => ({
      id: crypto.randomUUID(),
      queue: 'upkeep-test',
      kind: 'churn',
      subject: `subject-${round}-${i}`,
      payload: { round, i, padding: 'x'.repeat(100) },
    })),
  );
  await db.deleteFrom('warden_jobs').where('queue', '=', 'upkeep-test').execute();
}

describe('table upkeep on PGlite (what autovacuum does on a server)', () => {
  it('keeps a queue table that inserts and deletes at the size of what it holds at once; without it the table grows by every job it ever held', async () => {
    const kept = await fresh();
    const left = await fresh();
    const passes: UpkeepDone[][] = [];
    for (let round = 0; round < 60; round++) {
      await churnJobs(kept, round);
      await churnJobs(left, round);
      passes.push(await upkeepPass(kept.database));
    }
    const vacuumed = passes.flat().filter((d) => d.table === 'public.warden_jobs');
    expect(vacuumed.length).toBeGreaterThan(0);
    const [keptBytes, leftBytes] = [await sizeOf(kept, 'warden_jobs'), await sizeOf(left, 'warden_jobs')];
    // 30,000 jobs went through each; at most 500 were ever there at once.
    expect(keptBytes * 5).toBeLessThan(leftBytes);
    const [activity] = (await readTableActivity(kept.database)).filter((a) => a.table === 'warden_jobs');
    expect(activity?.deadRows).toBeLessThanOrEqual(500);
  });

  it('gathers planner statistics for a table once enough of it changed, then leaves quiet tables alone', async () => {
    const t = await fresh();
    await sql`create table upkeep_counted (id int primary key, body text)`.execute(untyped(t));
    await sql`insert into upkeep_counted select g, 'row ' || g from generate_series(1, 5000) g`.execute(
      untyped(t),
    );
    const first = await upkeepPass(t.database);
    expect(first).toContainEqual(
      expect.objectContaining({ table: 'public.upkeep_counted', action: 'vacuum_analyze' }),
    );
    const { rows } = await sql<{ reltuples: number; analyzed: boolean }>`
      select c.reltuples, s.last_analyze is not null as analyzed
      from pg_class c join pg_stat_all_tables s on s.relid = c.oid where c.relname = 'upkeep_counted'`.execute(
      untyped(t),
    );
    expect(rows[0]).toEqual({ reltuples: 5000, analyzed: true });
    // Nothing changed since: nothing is past a threshold, nothing runs.
    expect(await upkeepPass(t.database)).toEqual([]);
    // A few changes stay under the threshold (50 + 10% of 5,000 for an analyze).
    await sql`update upkeep_counted set body = 'changed' where id <= 400`.execute(untyped(t));
    expect(await upkeepPass(t.database)).toEqual([]);
    // 1,000 changed in all: past the analyze threshold (550), not yet the vacuum one (50 + 20%).
    await sql`update upkeep_counted set body = 'changed again' where id <= 600`.execute(untyped(t));
    expect(await upkeepPass(t.database)).toEqual([
      expect.objectContaining({ table: 'public.upkeep_counted', action: 'analyze' }),
    ]);
  });

  it('passes over a table dropped between reading the activity and keeping it up, and keeps up the rest', async () => {
    const t = await fresh();
    const db = untyped(t);
    for (const name of ['upkeep_dropped', 'upkeep_kept']) {
      await sql`create table ${sql.id(name)} (id int primary key)`.execute(db);
      await sql`insert into ${sql.id(name)} select g from generate_series(1, 2000) g`.execute(db);
    }
    const activities = await readTableActivity(t.database);
    await sql`drop table upkeep_dropped`.execute(db);
    const done = await keepUpTables(t.database, activities);
    expect(done.map((d) => d.table)).toContain('public.upkeep_kept');
    expect(done.map((d) => d.table)).not.toContain('public.upkeep_dropped');
  });

  it('merges a GIN index’s pending list: a search reads a few index pages instead of the whole list', async () => {
    const t = await fresh();
    const db = untyped(t);
    await sql`create table upkeep_documents (id int primary key, body text,
      search tsvector generated always as (to_tsvector('english', body)) stored)`.execute(db);
    await sql`create index upkeep_documents_search on upkeep_documents using gin (search)`.execute(db);
    const words = [
      'ledger',
      'queue',
      'render',
      'socket',
      'cache',
      'token',
      'schema',
      'router',
      'pager',
      'delta',
    ];
    for (let page = 0; page < 10; page++) {
      await sql`insert into upkeep_documents
        select g, (select string_agg((${words}::text[])[1 + ((g * 7 + k * 3) % 10)], ' ') from generate_series(1, 20) k)
        from generate_series(${page * 500 + 1}::int, ${page * 500 + 500}::int) g`.execute(db);
    }
    // The index scan either way (the counts compare the index's pages, not the planner's choices).
    await sql`set enable_seqscan = off`.execute(db);
    const indexPagesRead = async () => {
      const { rows } = await sql<{ 'QUERY PLAN': [{ Plan: Plan }] }>`explain (analyze, buffers, format json)
        select id from upkeep_documents where search @@ to_tsquery('english', 'ledger & pager')`.execute(db);
      type Plan = {
        'Node Type': string;
        'Shared Hit Blocks': number;
        'Shared Read Blocks': number;
        Plans?: Plan[];
      };
      const find = (plan: Plan): Plan | undefined =>
        plan['Node Type'] === 'Bitmap Index Scan' ? plan : (plan.Plans ?? []).map(find).find(Boolean);
      const scan = find(rows[0]!['QUERY PLAN'][0].Plan);
      if (!scan) throw new Error('the search did not use its index');
      return scan['Shared Hit Blocks'] + scan['Shared Read Blocks'];
    };
    const before = await indexPagesRead();
    const done = await upkeepPass(t.database);
    expect(done.map((d) => d.table)).toContain('public.upkeep_documents');
    const after = await indexPagesRead();
    expect(after * 5).toBeLessThan(before);
  });

  it('runs a pass every interval, one at a time, reports what it did and a failure, and stop waits for the pass under way', async () => {
    const t = await fresh();
    const reports: UpkeepDone[][] = [];
    const failures: unknown[] = [];
    const upkeep = startTableUpkeep({
      database: t.database,
      intervalMs: 20,
      onDone: (done) => reports.push(done),
      onError: (error) => failures.push(error),
    });
    await churnJobs(t, 0);
    await churnJobs(t, 1);
    await expect
      .poll(() => reports.flat().some((d) => d.table === 'public.warden_jobs'), { timeout: 10_000 })
      .toBe(true);
    expect(failures).toEqual([]);
    await upkeep.stop();
    const after = reports.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(reports.length).toBe(after);

    // A pass that fails (its database closed under it) is reported; the loop goes on.
    const closing = await freshPGlite();
    const failing = startTableUpkeep({
      database: closing.database,
      intervalMs: 20,
      onDone: () => undefined,
      onError: (error) => failures.push(error),
    });
    await closing.dispose();
    await expect.poll(() => failures.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await failing.stop();

    // A report that throws is a failure too, never an unhandled rejection; the passes go on.
    const reporting = await fresh();
    const thrown: unknown[] = [];
    let reported = 0;
    const throwing = startTableUpkeep({
      database: reporting.database,
      intervalMs: 20,
      onDone: () => {
        reported++;
        throw new Error('the report failed');
      },
      onError: (error) => thrown.push(error),
    });
    await churnJobs(reporting, 0);
    await expect.poll(() => thrown.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await churnJobs(reporting, 1);
    await churnJobs(reporting, 2);
    await expect.poll(() => reported, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await throwing.stop();
    expect(thrown.every((e) => (e as Error).message === 'the report failed')).toBe(true);
  });
});

describe.runIf(databaseUrl)('table upkeep on a PostgreSQL server, as a role that is no superuser', () => {
  it('lists and keeps up only the tables the role may vacuum: its own, not the catalogs', async () => {
    const suffix = crypto.randomUUID().replaceAll('-', '').slice(0, 10);
    const role = `upkeep_role_${suffix}`;
    const schema = `upkeep_${suffix}`;
    const admin = await connectPostgres({ url: databaseUrl!, poolSize: 1 });
    const untypedAdmin = admin.db as unknown as Kysely<unknown>;
    await sql`create role ${sql.id(role)} login`.execute(untypedAdmin);
    await sql`create schema ${sql.id(schema)} authorization ${sql.id(role)}`.execute(untypedAdmin);
    // Connecting to a schema of its own creates it if missing, which asks for CREATE on the database.
    const database = sql.id(new URL(databaseUrl!).pathname.slice(1));
    await sql`grant create on database ${database} to ${sql.id(role)}`.execute(untypedAdmin);
    const url = new URL(databaseUrl!);
    url.username = role;
    const own = await connectPostgres({ url: url.toString(), schema, poolSize: 1 });
    try {
      const db = own.db as unknown as Kysely<unknown>;
      await sql`create table upkeep_owned (id int primary key)`.execute(db);
      await sql`insert into upkeep_owned select g from generate_series(1, 3000) g`.execute(db);
      const activity = await readTableActivity(own);
      expect(activity.map((a) => `${a.schema}.${a.table}`)).toEqual([`${schema}.upkeep_owned`]);
      // The inserts are counted once the server has them (each backend reports within about a second).
      await expect
        .poll(async () => (await upkeepPass(own)).map((d) => d.table), { timeout: 15_000 })
        .toContain(`${schema}.upkeep_owned`);
    } finally {
      await own.close();
      await sql`drop schema ${sql.id(schema)} cascade`.execute(untypedAdmin);
      await sql`revoke create on database ${database} from ${sql.id(role)}`.execute(untypedAdmin);
      await sql`drop role ${sql.id(role)}`.execute(untypedAdmin);
      await admin.close();
    }
  });
});
