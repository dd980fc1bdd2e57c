import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../src/commands/kernel/decider.ts';
import { load } from '../../src/commands/kernel/handle.ts';
import type { EventStore, NewEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { streamCache } from '../../src/eventstore/stream-cache.ts';
import { freshPGlite, type TestDatabase } from '../support/databases.ts';

const event = (type: string): NewEvent => ({ id: randomUUID(), type, data: {} });
const whole = { from: 0, limit: 1000 };
/** A cache of the test's two event types, looking at the log every `syncMs`. */
const cacheOf = (store: EventStore, syncMs: number) =>
  streamCache(store, {
    types: ['Made', 'Changed'],
    syncMs,
    ttlMs: 60_000,
    max: 100,
    clock: () => new Date(),
  });

describe('stream cache: what the log shows late', () => {
  let test: TestDatabase;
  let store: EventStore;
  let elsewhere: EventStore;
  beforeAll(async () => {
    test = await freshPGlite();
    store = postgresEventStore(test.database);
    // Another process's store: its appends are not announced to `store`'s listeners.
    elsewhere = postgresEventStore({ ...test.database });
  });
  afterAll(() => test.dispose());

  it('keeps a cached stream when the log shows events it already holds, and drops it for a newer one', async () => {
    const streamId = `test.Thing-${randomUUID()}`;
    await elsewhere.append(streamId, [event('Made')]);
    // The first sync marks where the log stands. On a PostgreSQL server a transaction elsewhere can
    // hold that mark below events already committed, which the stream read sees: the mark reads 0.
    const seen: EventStore = Object.create(store);
    seen.headPosition = async () => 0n;
    let reads = 0;
    seen.readStream = (id, options) => {
      if (id === streamId) reads++;
      return store.readStream(id, options);
    };
    const cache = cacheOf(seen, 0);
    try {
      expect((await cache.readStream(streamId, whole)).map((e) => e.type)).toEqual(['Made']);
      // This sync reads 'Made' in the log: the cached stream holds its revision, so it stays.
      expect((await cache.readStream(streamId, whole)).map((e) => e.type)).toEqual(['Made']);
      expect(reads).toBe(1);

      await elsewhere.append(streamId, [event('Changed')]);
      expect((await cache.readStream(streamId, whole)).map((e) => e.type)).toEqual(['Made', 'Changed']);
      expect(reads).toBe(2);
      expect((await cache.readStream(streamId, whole)).map((e) => e.type)).toEqual(['Made', 'Changed']);
      expect(reads).toBe(2);
    } finally {
      cache.close();
    }
  });
});

describe('stream cache: folds', () => {
  let test: TestDatabase;
  let store: EventStore;
  beforeAll(async () => {
    test = await freshPGlite();
    store = postgresEventStore(test.database);
  });
  afterAll(() => test.dispose());

  it('folds a cached stream once per decider until the stream changes, and hands out a stream no reader can change', async () => {
    const streamId = `test.Thing-${randomUUID()}`;
    await store.append(streamId, [event('Made'), event('Changed')]);
    let evolved = 0;
    const counting = {
      initialState: () => ({ seen: [] as string[] }),
      evolve: (state: { seen: string[] }, e: DomainEvent) => {
        evolved++;
        return { seen: [...state.seen, e.type] };
      },
    };
    const other = { ...counting };
    const cache = cacheOf(store, 60_000);
    try {
      const first = await load(cache, streamId, counting);
      expect(first.state.seen).toEqual(['Made', 'Changed']);
      expect(evolved).toBe(2);
      const again = await load(cache, streamId, counting);
      expect(again).toEqual(first);
      expect(again.state).toBe(first.state);
      expect(evolved).toBe(2);
      // Another decider folds for itself.
      expect((await load(cache, streamId, other)).state.seen).toEqual(['Made', 'Changed']);
      expect(evolved).toBe(4);
      // The stream itself is frozen: a reader that changed it would change every later fold.
      const held = await cache.readStream(streamId, whole);
      expect(() => (held as unknown[]).push('x')).toThrow(TypeError);

      // A change in this process drops the stream, and with it the fold.
      await store.append(streamId, [event('Changed')]);
      expect((await load(cache, streamId, counting)).state.seen).toEqual(['Made', 'Changed', 'Changed']);
      expect(evolved).toBe(7);
      // Straight from the store (not frozen), every load folds.
      await load(store, streamId, counting);
      await load(store, streamId, counting);
      expect(evolved).toBe(13);
    } finally {
      cache.close();
    }
  });
});
