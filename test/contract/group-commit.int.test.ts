import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { type EventStore, InvalidAppendError, type NewEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { databaseKinds } from '../support/postgres.ts';

// Appends expecting `any` that arrive while a statement is in flight share the next one (see
// src/eventstore/postgres/group-commit.ts). One lane here, so the first append goes alone and the
// rest, sent in the same tick, wait for it and go together. A position's high bits are its
// transaction (`xact << 20`), which shows from outside which appends shared one.
const event = (type: string, data: unknown, tenantId?: string): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: { ...(tenantId ? { tenantId } : {}), actorId: 'tester', correlationId: randomUUID() },
});
const transactionOf = (position: bigint) => position >> 20n;
const oneLane = { lanes: 1, maxAppends: 64, maxEvents: 2000 };

for (const kind of databaseKinds) {
  /** A fresh database and a store over it with one lane, disposed after `run`. */
  const withStore = async (run: (store: EventStore, database: Database) => Promise<void>) => {
    const { database, dispose } = await kind.fresh();
    try {
      await run(postgresEventStore(database, { groupCommit: oneLane }), database);
    } finally {
      await dispose();
    }
  };

  describe(`group commit: ${kind.name}`, () => {
    it('appends sent together share one transaction, each with the revision, position, data and tenant it would have had alone', () =>
      withStore(async (store, database) => {
        const tenants = [randomUUID(), randomUUID()];
        // Awkward stream ids and payloads: the group travels as one JSON document.
        const streams = Array.from({ length: 20 }, (_, i) => `test.Thing-${i}-"q",\\é ✓`);
        await store.append(streams[3]!, [event('Before', { n: -1 })]);
        const sent = streams.map((stream, i) => {
          const tenant = tenants[i % 2];
          const events = Array.from({ length: 1 + (i % 3) }, (_, k) =>
            event(`Noted${k}`, { i, k, text: `a,"b"\\${i}` }, tenant),
          );
          return { stream, events, tenant };
        });
        const lone = store.append(`test.Lone-${randomUUID()}`, [event('Lone', {})]);
        const results = await Promise.all(sent.map((s) => store.append(s.stream, s.events)));
        const first = await lone;

        const grouped = new Set(results.map((r) => transactionOf(r.position)));
        expect(grouped.size).toBe(1);
        expect(grouped.has(transactionOf(first.position))).toBe(false);
        expect(new Set(results.map((r) => r.position)).size).toBe(results.length);
        for (const [i, s] of sent.entries()) {
          const read = await store.readStream(s.stream);
          const mine = read.slice(-s.events.length);
          expect(mine.map((e) => e.id)).toEqual(s.events.map((e) => e.id));
          expect(mine.map((e) => e.data)).toEqual(s.events.map((e) => e.data));
          expect(mine.map((e) => e.metadata.correlationId)).toEqual(
            s.events.map((e) => e.metadata?.correlationId),
          );
          expect(results[i]).toEqual({ revision: read.length - 1, position: read.at(-1)!.position });
        }
        const { rows } = await sql<{ stream_id: string; tenant_id: string | null }>`
          select distinct stream_id, tenant_id from warden_events where type like 'Noted%'`.execute(
          database.db,
        );
        expect(new Map(rows.map((r) => [r.stream_id, r.tenant_id]))).toEqual(
          new Map(sent.map((s) => [s.stream, s.tenant ?? null])),
        );
      }));

    it('a bad append in a group fails alone; the others in it are stored', () =>
      withStore(async (store) => {
        const taken = event('Taken', {});
        await store.append('test.Owner-1', [taken]);
        const lone = store.append('test.Lone-1', [event('Lone', {})]);
        const good = ['a', 'b', 'c'].map((s) => store.append(`test.Good-${s}`, [event('Good', { s })]));
        // Reuses an event id of another stream: refused, as alone.
        const bad = store.append('test.Bad-1', [event('Bad', {}), { ...taken, type: 'Bad' }]);
        await lone;
        await expect(bad).rejects.toBeInstanceOf(InvalidAppendError);
        const stored = await Promise.all(good);
        expect(stored.map((r) => r.revision)).toEqual([0, 0, 0]);
        expect(await store.readStream('test.Bad-1')).toEqual([]);
        // Sent again side by side after the group failed: all stored. Read by stream: `readAll` stops
        // below the oldest transaction running on the server, and on a PostgreSQL shared with other
        // test files that may hide what was just committed here for a moment.
        const goods = await Promise.all(['a', 'b', 'c'].map((s) => store.readStream(`test.Good-${s}`)));
        expect(goods.map((read) => read.map((e) => (e.data as { s: string }).s))).toEqual([
          ['a'],
          ['b'],
          ['c'],
        ]);
      }));

    it('a retry sent in the same group as its original is stored once and answers as the original', () =>
      withStore(async (store) => {
        const lone = store.append('test.Lone-2', [event('Lone', {})]);
        const events = [event('Once', { n: 1 }), event('Once', { n: 2 })];
        const [a, b] = await Promise.all([
          store.append('test.Once-1', events),
          store.append('test.Once-1', events),
        ]);
        await lone;
        expect(a).toEqual(b);
        expect((await store.readStream('test.Once-1')).map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
      }));

    it('an append that expects a revision is never grouped: a conflict fails it and nothing else', () =>
      withStore(async (store) => {
        await store.append('test.Claimed-1', [event('Claimed', {})]);
        const lone = store.append('test.Lone-3', [event('Lone', {})]);
        const expecting = Array.from({ length: 4 }, (_, i) =>
          store.append(`test.New-${i}`, [event('New', { i })], { expected: 'no_stream' }),
        );
        const conflict = store
          .append('test.Claimed-1', [event('Claimed', {})], { expected: 'no_stream' })
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        await lone;
        const results = await Promise.all(expecting);
        expect(new Set(results.map((r) => transactionOf(r.position))).size).toBe(results.length);
        expect(await conflict).toMatchObject({ code: 'ERR_WRONG_EXPECTED_REVISION' });
      }));
  });
}
