import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { databaseKinds } from '../support/postgres.ts';
import { eventStoreContract } from './eventstore.contract.ts';

// PGlite always; a real PostgreSQL server too when DATABASE_URL is set.
for (const kind of databaseKinds) {
  describe(kind.name, () => {
    eventStoreContract(kind.name, async () => {
      const { database, dispose } = await kind.fresh();
      return {
        store: postgresEventStore(database, { pollIntervalMs: 20 }),
        reopen: async () => postgresEventStore(database, { pollIntervalMs: 20 }),
        dispose,
      };
    });

    it("delivers another process's appends to each live subscription of their types, from the store's one tail poll", async () => {
      const { database, dispose } = await kind.fresh();
      const store = postgresEventStore(database, { pollIntervalMs: 20 });
      // A copy of the database handle has its own append listeners, as another process would: its
      // store's appends wake nothing here, and only the tail poll can find them.
      const other = postgresEventStore({ ...database }, { pollIntervalMs: 20 });
      const controller = new AbortController();
      const follows = ['Red', 'Green', 'Blue'];
      let caughtUp = 0;
      const seen = follows.map(() => [] as RecordedEvent[]);
      const consumers = follows.map(async (type, i) => {
        const subscription = store.subscribe({
          types: [type],
          signal: controller.signal,
          onCaughtUp: () => caughtUp++,
        });
        for await (const event of subscription) seen[i]!.push(event);
      });
      try {
        while (caughtUp < follows.length) await new Promise((r) => setTimeout(r, 10));
        const appended = ['Green', 'Other', 'Red', 'Green', 'Other'];
        for (const type of appended) {
          await other.append(`test-${randomUUID()}`, [{ id: randomUUID(), type, data: {}, metadata: {} }]);
        }
        for (let i = 0; seen.flat().length < 3; i++) {
          if (i > 1500) throw new Error('the subscriptions never heard of the other store’s appends');
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(seen.map((events) => events.map((e) => e.type))).toEqual([['Red'], ['Green', 'Green'], []]);
      } finally {
        controller.abort();
        await Promise.all(consumers);
        await dispose();
      }
    });
  });
}
