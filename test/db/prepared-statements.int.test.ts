import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPreparedStatements } from '../../src/db/prepared-statements.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { loginThrottle } from '../../src/identity/throttle.ts';
import { aesKey } from '../../src/identity/tokens/crypto.ts';
import { personalDataKeys } from '../../src/privacy/keys.ts';
import { advanceCheckpoint, engineTables, ensureRow, lockRow } from '../../src/projections/engine/rows.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';

/**
 * The statements every live store and every projection page send (the tail poll, the head, the
 * checkpoint's lock and moves) go to PostgreSQL as named prepared statements, parsed and planned
 * once per connection: one connection here, so the session's `pg_prepared_statements` shows them all.
 */
describe.runIf(databaseUrl)('statements sent as named prepared statements (postgres)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshPostgres(1);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  const prepared = async () =>
    (
      await sql<{ name: string }>`select name from pg_prepared_statements order by name`.execute(
        t.database.db,
      )
    ).rows.map((row) => row.name);

  it('prepares the tail poll and the head read of the store, which still answer', async () => {
    const store = postgresEventStore(t.database);
    const appended = await store.append('prepared-1', [
      { id: crypto.randomUUID(), type: 'Noted', data: {}, metadata: {} },
    ]);
    // Visible once every older transaction on the (shared) server has ended: polled, read twice.
    const deadline = Date.now() + 30_000;
    let seen = 0;
    while (seen < 2 && Date.now() < deadline) {
      const head = await store.headPosition();
      const tail = await store.readPositions({ after: 0n, limit: 10 });
      if (head === appended.position) {
        expect(tail).toEqual([{ position: appended.position, type: 'Noted' }]);
        seen++;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    expect(seen).toBe(2);
    expect(await prepared()).toEqual(
      expect.arrayContaining(['warden_head_position', 'warden_read_positions']),
    );
  });

  it('prepares the projection checkpoint’s lock and advance, which still lock and move it', async () => {
    const rows = engineTables(t.database.db, t.database.schema);
    await ensureRow(rows, 'preparedProjection');
    await t.database.db.transaction().execute(async (trx) => {
      const row = await lockRow(engineTables(trx, t.database.schema), 'preparedProjection');
      expect(row?.position).toBe(0n);
    });
    const move = { from: 0n, to: 9n, version: 1, state: 'live', clearError: false };
    // The version is not 1 (the row has none): nothing moves.
    expect(await advanceCheckpoint(rows, 'preparedProjection', move)).toBe(false);
    await rows
      .updateTable('warden_projections')
      .set({ version: 1 })
      .where('name', '=', 'preparedProjection')
      .execute();
    expect(await advanceCheckpoint(rows, 'preparedProjection', move)).toBe(true);
    expect(
      await advanceCheckpoint(rows, 'preparedProjection', { ...move, from: 9n, to: 12n, clearError: true }),
    ).toBe(true);
    // Written inline (no parameters), as a page's transaction opens with it: the same checks.
    expect(
      await advanceCheckpoint(rows, 'preparedProjection', { ...move, from: 9n, to: 14n }, { inline: true }),
    ).toBe(false);
    expect(
      await advanceCheckpoint(rows, 'preparedProjection', { ...move, from: 12n, to: 14n }, { inline: true }),
    ).toBe(true);
    expect((await lockRow(rows, 'preparedProjection'))?.position).toBe(14n);
    expect(await prepared()).toEqual(
      expect.arrayContaining([
        'warden_projection_advance',
        'warden_projection_advance_clearing',
        'warden_projection_lock',
      ]),
    );
  });

  it('prepares a sign-in’s statements: the throttle’s take and clear, and the personal-data key read', async () => {
    const db = t.database.db;
    const throttle = loginThrottle(
      db,
      {
        maxAttemptsPerAccount: 2,
        maxAttemptsPerAddress: 10,
        windowSeconds: 900,
        freeFailures: 5,
        backoffBaseMs: 1000,
        backoffMaxMs: 8000,
      },
      () => new Date('2026-03-01T12:00:00Z'),
    );
    const tenantId = crypto.randomUUID();
    const alone = { tenantId, email: 'ada@example.com' };
    const behindAddress = { tenantId, email: 'bob@example.com', address: '192.0.2.7' };
    // Both shapes of each statement, as the named statements they now are: the limit still holds
    // and a success still clears it.
    for (const key of [alone, behindAddress]) {
      expect((await throttle.checkLogin(key)).allowed).toBe(true);
      expect((await throttle.checkLogin(key)).allowed).toBe(true);
      expect((await throttle.checkLogin(key)).allowed).toBe(false);
      await throttle.recordSuccess(key);
      expect((await throttle.checkLogin(key)).allowed).toBe(true);
    }
    const keys = personalDataKeys(db as never, await aesKey(crypto.getRandomValues(new Uint8Array(32))));
    const made = await keys.current(crypto.randomUUID(), tenantId);
    expect([...(await keys.find([made.keyId, crypto.randomUUID()])).keys()]).toEqual([made.keyId]);
    expect(await prepared()).toEqual(
      expect.arrayContaining([
        'login_throttle_clear_account',
        'login_throttle_clear_both',
        'login_throttle_take_account',
        'login_throttle_take_both',
        'personal_data_keys_find',
      ]),
    );
  });
});

/**
 * Kysely sends a transaction's `begin` alone; the wrapper holds it and sends it in front of the
 * transaction's first statement when that statement has no parameters (one simple-protocol query).
 * What reaches the connection is recorded from pg's own `query`.
 */
describe.runIf(databaseUrl)('a transaction’s begin goes with its first statement (postgres)', () => {
  let pool: pg.Pool;
  let db: Kysely<unknown>;
  const sent: string[] = [];
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      client.query = ((...args: unknown[]) => {
        const first = args[0];
        sent.push(typeof first === 'string' ? first : (first as { text: string }).text);
        return query(...args);
      }) as never;
    });
    db = new Kysely({ dialect: new PostgresDialect({ pool: withPreparedStatements(pool) }) });
    // One connection: the temporary table is this session's.
    await sql`create temporary table rides (id int primary key)`.execute(db);
  });
  afterAll(async () => {
    await db?.destroy();
  });
  const ids = async () =>
    (await sql<{ id: number }>`select id from rides order by id`.execute(db)).rows.map((row) => row.id);
  const sentBy = async (work: () => Promise<unknown>) => {
    sent.length = 0;
    await work().catch(() => undefined);
    return [...sent];
  };

  it('sends begin with a first statement that has no parameters, and answers with its result', async () => {
    let answer: unknown;
    const statements = await sentBy(() =>
      db.transaction().execute(async (trx) => {
        answer = (await sql<{ n: number }>`select 1 + 1 as n`.execute(trx)).rows;
        await sql`insert into rides values (1)`.execute(trx);
        await sql`insert into rides values (${2})`.execute(trx);
      }),
    );
    expect(statements).toEqual([
      'begin; select 1 + 1 as n',
      'insert into rides values (1)',
      'insert into rides values ($1)',
      'commit',
    ]);
    expect(answer).toEqual([{ n: 2 }]);
    expect(await ids()).toEqual([1, 2]);
    // The counts kysely reads from the answer (an update's affected rows) are the statement's.
    await db.transaction().execute(async (trx) => {
      const updated = await sql`update rides set id = id + 10`.execute(trx);
      expect(updated.numAffectedRows).toBe(2n);
      await sql`update rides set id = id - 10`.execute(trx);
    });
  });

  it('sends begin alone before a first statement with parameters, and nothing for an empty transaction', async () => {
    expect(
      await sentBy(() =>
        db.transaction().execute(async (trx) => {
          await sql`insert into rides values (${3})`.execute(trx);
        }),
      ),
    ).toEqual(['begin', 'insert into rides values ($1)', 'commit']);
    expect(await sentBy(() => db.transaction().execute(async () => {}))).toEqual([]);
    expect(
      await sentBy(() =>
        db.transaction().execute(async () => {
          throw new Error('nothing done');
        }),
      ),
    ).toEqual([]);
    expect(
      await sentBy(() =>
        db
          .transaction()
          .setIsolationLevel('serializable')
          .execute(async (trx) => {
            await sql`select 1`.execute(trx);
          }),
      ),
    ).toEqual(['start transaction isolation level serializable; select 1', 'commit']);
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it('keeps the transaction whole: a throw after the first statement rolls it back', async () => {
    const statements = await sentBy(() =>
      db.transaction().execute(async (trx) => {
        await sql`insert into rides values (4)`.execute(trx);
        await sql`insert into rides values (${5})`.execute(trx);
        throw new Error('changed my mind');
      }),
    );
    expect(statements).toEqual([
      'begin; insert into rides values (4)',
      'insert into rides values ($1)',
      'rollback',
    ]);
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it('a first statement that fails rolls back, and the connection goes on outside any transaction', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`insert into rides values (1)`.execute(trx);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    // Not left in an aborted transaction: a statement alone commits on its own.
    await sql`insert into rides values (${6})`.execute(db);
    const open = await sql<{ xid: string | null }>`select txid_current_if_assigned()::text as xid`.execute(
      db,
    );
    expect(open.rows[0]?.xid).toBeNull();
    expect(await ids()).toEqual([1, 2, 3, 6]);
  });
});
