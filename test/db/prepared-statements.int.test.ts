import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { loginThrottle } from '../../src/identity/throttle.ts';
import { aesKey } from '../../src/identity/tokens/crypto.ts';
import { personalDataKeys } from '../../src/privacy/keys.ts';
import {
  advanceCheckpoint,
  engineTables,
  ensureRow,
  lockRow,
  saveCheckpoint,
} from '../../src/projections/engine/rows.ts';
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

  it('prepares the projection checkpoint’s lock, save and advance, which still lock and move it', async () => {
    const rows = engineTables(t.database.db, t.database.schema);
    await ensureRow(rows, 'preparedProjection');
    await t.database.db.transaction().execute(async (trx) => {
      const locked = engineTables(trx, t.database.schema);
      const row = await lockRow(locked, 'preparedProjection');
      expect(row?.position).toBe(0n);
      await saveCheckpoint(locked, 'preparedProjection', 5n, 'live');
      await saveCheckpoint(locked, 'preparedProjection', 6n, 'live', true);
    });
    const move = { from: 6n, to: 9n, version: 1, state: 'live', clearError: false };
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
    expect((await lockRow(rows, 'preparedProjection'))?.position).toBe(12n);
    expect(await prepared()).toEqual(
      expect.arrayContaining([
        'warden_projection_advance',
        'warden_projection_advance_clearing',
        'warden_projection_lock',
        'warden_projection_save',
        'warden_projection_save_clearing',
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
