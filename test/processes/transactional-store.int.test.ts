import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tables } from '../../src/db/tables.ts';
import { type EventStore, WrongExpectedRevisionError } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { transactionalStore } from '../../src/eventstore/postgres/transactional-store.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';
import { waitUntil } from './support.ts';

const event = (id = randomUUID()) => ({ id, type: 'test.Thing', data: { at: id } });

for (const kind of databaseKinds) {
  describe(`appends inside a handling transaction (${kind.name})`, () => {
    let test: TestDatabase;
    let store: EventStore;
    beforeAll(async () => {
      test = await kind.fresh();
      store = postgresEventStore(test.database);
    });
    afterAll(() => test.dispose());

    const inTransaction = <T>(work: (trx: Kysely<Tables>, store: EventStore) => Promise<T>) =>
      test.database.db.transaction().execute((trx) => work(trx, transactionalStore(test.database, trx)));

    it('several appends in one transaction get distinct, increasing positions, all read in order', async () => {
      const streams = [`test.A-${randomUUID()}`, `test.B-${randomUUID()}`, `test.A-${randomUUID()}`];
      const before = await lastWritten(test.database.db);
      const results = await inTransaction(async (_, s) => {
        const out = [];
        for (const streamId of streams) out.push(await s.append(streamId, [event(), event()]));
        return out;
      });
      const positions = results.map((r) => r.position);
      expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
      expect(new Set(positions).size).toBe(3);
      // Readers see a transaction's events once every older transaction on the server has ended.
      const read = await waitUntil('the events visible', async () => {
        const page = await store.readAll({ after: before, limit: 100 });
        return page.length >= 6 && page;
      });
      expect(read.map((e) => e.streamId)).toEqual(streams.flatMap((s) => [s, s]));
    });

    it('a repeated append with the same ids answers as the first did and leaves the transaction usable', async () => {
      const streamId = `test.Replay-${randomUUID()}`;
      const ids = [randomUUID(), randomUUID()];
      const first = await store.append(streamId, ids.map(event));
      const again = await inTransaction(async (trx, s) => {
        const result = await s.append(streamId, ids.map(event), { expected: 'no_stream' });
        await s.append(streamId, [event()]);
        await sql`select 1`.execute(trx);
        return result;
      });
      expect(again).toEqual(first);
      expect(await store.readStream(streamId)).toHaveLength(3);
    });

    it('a revision conflict is the typed error handle() retries on, and the transaction goes on', async () => {
      const streamId = `test.Conflict-${randomUUID()}`;
      await store.append(streamId, [event(), event()]);
      const outcome = await inTransaction(async (_, s) => {
        const error = await s.append(streamId, [event()], { expected: 0 }).catch((e: unknown) => e);
        await s.append(streamId, [event()], { expected: 1 });
        return error;
      });
      expect(outcome).toBeInstanceOf(WrongExpectedRevisionError);
      expect(outcome).toMatchObject({ expected: 0, actual: 1 });
      expect(await store.readStream(streamId)).toHaveLength(3);
    });

    it('appends roll back with the transaction', async () => {
      const streamId = `test.Rollback-${randomUUID()}`;
      await inTransaction(async (_, s) => {
        await s.append(streamId, [event()]);
        throw new Error('handler failed');
      }).catch(() => undefined);
      expect(await store.readStream(streamId)).toEqual([]);
    });
  });
}
