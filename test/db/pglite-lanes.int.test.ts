import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPGlite, type PGliteDatabase } from '../../src/db/database.ts';
import { signal } from '../support/signal.ts';

/**
 * Embedded PGlite is one session. Work nobody waits on goes through `database.background`, whose
 * transactions give way to the statements of `database.db` (requests) queued after them.
 */
describe('PGlite: requests before background work (pglite)', () => {
  let database: PGliteDatabase;
  beforeAll(async () => {
    database = await connectPGlite();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('runs a request queued behind background transactions before them, and the transactions after it', async () => {
    const order: string[] = [];
    const held = signal();
    const gate = signal();
    // A projection page holding the session.
    const holder = database.background.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      held.fire();
      await gate.promise;
      order.push('page 1');
    });
    await held.promise;
    const page = (name: string) =>
      database.background.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
        order.push(name);
      });
    const queued = [page('page 2'), page('page 3')];
    const request = sql`select 1`.execute(database.db).then(() => order.push('request'));
    // Each reaches the session's queue after kysely has compiled it (a few turns).
    for (let turns = 0; database.poolStats().waiting < 3 && turns < 100; turns++)
      await new Promise((resolve) => setTimeout(resolve, 1));
    expect(database.poolStats()).toMatchObject({ idle: 0, waiting: 3 });
    gate.fire();
    await Promise.all([holder, ...queued, request]);
    expect(order).toEqual(['page 1', 'request', 'page 2', 'page 3']);
    expect(database.poolStats()).toMatchObject({ idle: 1, waiting: 0 });
  });

  it('keeps a background transaction whole: a request waits for its commit and sees all of it', async () => {
    await sql`create table lanes_rows (n int)`.execute(database.db);
    const held = signal();
    const gate = signal();
    const page = database.background.transaction().execute(async (trx) => {
      await sql`insert into lanes_rows values (1)`.execute(trx);
      held.fire();
      await gate.promise;
      await sql`insert into lanes_rows values (2)`.execute(trx);
    });
    await held.promise;
    const read = sql<{ n: number }>`select count(*)::int as n from lanes_rows`.execute(database.db);
    gate.fire();
    await page;
    expect((await read).rows[0]?.n).toBe(2);
  });
});
