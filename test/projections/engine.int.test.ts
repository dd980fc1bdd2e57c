import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import {
  ProjectionEngine,
  type ProjectionEngineOptions,
  RebuildInProgressError,
  UnknownProjectionError,
} from '../../src/projections/engine/index.ts';
import { PGLITE_PAGE_MS } from '../../src/projections/engine/pglite-pages.ts';
import { engineTables } from '../../src/projections/engine/rows.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { appendMany, counted, readCounts, streamCounts, totalCount } from './stream-counts.ts';

for (const kind of databaseKinds) {
  describe(`projection engine (${kind.name})`, () => {
    let test: TestDatabase;
    let database: Database;
    let store: EventStore;
    const engines: ProjectionEngine[] = [];
    const engine = (options: Omit<ProjectionEngineOptions, 'database' | 'store'>) => {
      const created = new ProjectionEngine({ database, store, pollIntervalMs: 20, ...options });
      engines.push(created);
      return created;
    };

    beforeEach(async () => {
      test = await kind.fresh();
      database = test.database;
      store = postgresEventStore(database, { pollIntervalMs: 20 });
    });
    afterEach(async () => {
      for (const e of engines.splice(0)) await e.stop();
      await test.dispose();
    });

    it('catches up from the first event in batches, then applies live events', async () => {
      const { streams, last } = await appendMany(store, 24, 50);
      const projections = engine({ projections: [streamCounts()], batchSize: 100 });
      await projections.start();
      expect(await projections.waitFor('streamCounts', last, 30_000)).toBe(true);
      const counts = await readCounts(database.db);
      expect(counts.size).toBe(24);
      for (const stream of streams) expect(counts.get(stream)).toBe(50);

      const live = await store.append(streams[0]!, [counted(), counted(), counted()]);
      expect(await projections.waitFor(['streamCounts'], live.position, 30_000)).toBe(true);
      expect((await readCounts(database.db)).get(streams[0]!)).toBe(53);
      const [status] = await projections.status();
      expect(status).toMatchObject({
        name: 'streamCounts',
        version: 1,
        state: 'live',
        lag: 0,
        lastError: null,
      });
      expect(status!.position).toBeGreaterThanOrEqual(live.position);
    });

    it(`sizes catch-up pages to about ${PGLITE_PAGE_MS} ms of work on PGlite (one session a request waits on), to the batch size on PostgreSQL`, async () => {
      // 5 ms an event: at most ten fit in the time a PGlite page may hold the session.
      const sizes: number[] = [];
      const slow = streamCounts({
        onApply: async (events) => {
          sizes.push(events.length);
          await new Promise((resolve) => setTimeout(resolve, events.length * 5));
        },
      });
      const first = await appendMany(store, 1, 20);
      const projections = engine({ projections: [slow], batchSize: 100 });
      await projections.start();
      expect(await projections.waitFor('streamCounts', first.last, 30_000)).toBe(true);
      expect(sizes).toEqual([20]);
      // 120 events in one append: all visible at once, so the next pages are as large as allowed.
      const more = await appendMany(store, 1, 120);
      expect(await projections.waitFor('streamCounts', more.last, 60_000)).toBe(true);
      const later = sizes.slice(1);
      expect(later.reduce((a, b) => a + b, 0)).toBe(120);
      if (kind.name === 'pglite') expect(later).toEqual(Array.from({ length: 12 }, () => 10));
      else expect(later).toEqual([100, 20]);
      expect((await readCounts(database.db)).get(more.streams[0]!)).toBe(120);
    });

    it(`sizes a rebuild's pages to about ${PGLITE_PAGE_MS} ms of work on PGlite too, starting small, to the rebuild batch size on PostgreSQL`, async () => {
      const sizes: number[] = [];
      const slow = streamCounts({
        onApply: async (events) => {
          sizes.push(events.length);
          await new Promise((resolve) => setTimeout(resolve, events.length * 5));
        },
      });
      const { last, streams } = await appendMany(store, 1, 120);
      const projections = engine({ projections: [slow], rebuildBatchSize: 100 });
      await projections.start();
      expect(await projections.waitFor('streamCounts', last, 60_000)).toBe(true);
      sizes.length = 0;
      const result = await projections.rebuild('streamCounts');
      expect(result).toMatchObject({ events: 120, applied: 120 });
      // 5 ms an event: ten fill the time a PGlite page may hold the session, and the first page,
      // sized before anything is known, is the smallest allowed.
      if (kind.name === 'pglite') expect(sizes).toEqual(Array.from({ length: 12 }, () => 10));
      else expect(sizes).toEqual([100, 20]);
      expect((await readCounts(database.db)).get(streams[0]!)).toBe(120);
    });

    it('passes events of other types, so a read-your-writes wait on them returns', async () => {
      const projections = engine({ projections: [streamCounts()] });
      await projections.start();
      const other = await store.append('test.Other-1', [
        { id: crypto.randomUUID(), type: 'Unrelated', data: {} },
      ]);
      expect(await projections.waitFor('streamCounts', other.position, 30_000)).toBe(true);
      expect((await projections.status())[0]).toMatchObject({ lag: 0, state: 'live' });
    });

    it("an append through the store wakes a caught-up projection at once, without the head's poll", async () => {
      // A poll an hour apart: only the store's own append can wake the engine within the test.
      const projections = engine({ projections: [streamCounts()], pollIntervalMs: 3_600_000 });
      await projections.start();
      await store.append('test.Woken-1', [counted()]);
      const deadline = Date.now() + 10_000;
      while ((await readCounts(database.db)).get('test.Woken-1') !== 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect((await readCounts(database.db)).get('test.Woken-1')).toBe(1);
    });

    it('moving its checkpoint past other types never moves back one another engine moved on', async () => {
      const projections = engine({ projections: [streamCounts()] });
      await projections.start();
      const first = await store.append('test.Mine-1', [counted()]);
      expect(await projections.waitFor('streamCounts', first.position, 30_000)).toBe(true);
      // Another engine committed far ahead (its own pages, as far as this one knows): a million
      // transactions on (positions are transaction id << 20). A thousand, as it was, is passed within
      // the loop below on a server other tests write to at the same time.
      const ahead = first.position + (1_000_000n << 20n);
      const rows = engineTables(database.db, database.schema);
      await rows
        .updateTable('warden_projections')
        .set({ position: ahead.toString() })
        .where('name', '=', 'streamCounts')
        .execute();
      // Only other types' events pass, for longer than the checkpoint may trail: this engine moves its
      // checkpoint past them, from where it last stored it, which is no longer where the row is.
      const deadline = Date.now() + 3_000;
      while (Date.now() < deadline) {
        await store.append(`test.Other-${crypto.randomUUID()}`, [
          { id: crypto.randomUUID(), type: 'Unrelated', data: {} },
        ]);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const stored = await rows
        .selectFrom('warden_projections')
        .select('position')
        .where('name', '=', 'streamCounts')
        .executeTakeFirstOrThrow();
      expect(BigInt(stored.position)).toBe(ahead);
      // It took the row's checkpoint over: a wait below it is already met.
      expect(await projections.waitFor('streamCounts', ahead, 1_000)).toBe(true);
    });

    it('two engines running the same projection live apply each event once', async () => {
      // Each page opens its transaction by moving the checkpoint from where its runner left it: the
      // engine that moves it second finds it moved, applies nothing and takes the stored one over.
      const slow = { onApply: () => new Promise<void>((resolve) => setTimeout(resolve, 5)) };
      const one = engine({ projections: [streamCounts(slow)], batchSize: 7 });
      const two = engine({ projections: [streamCounts(slow)], batchSize: 7 });
      await one.start();
      await two.start();
      const streams = ['test.Mine-a', 'test.Mine-b', 'test.Mine-c'];
      let last = 0n;
      for (let i = 0; i < 60; i++) {
        last = (await store.append(streams[i % 3]!, [counted(), counted()])).position;
      }
      expect(await one.waitFor('streamCounts', last, 30_000)).toBe(true);
      expect(await two.waitFor('streamCounts', last, 30_000)).toBe(true);
      const counts = await readCounts(database.db);
      for (const stream of streams) expect(counts.get(stream)).toBe(40);
    });

    it('a caught-up projection reads no page while only events of other types pass, and still gets its own', async () => {
      const pages: (readonly string[] | undefined)[] = [];
      const watched: EventStore = {
        ...store,
        readAll: (options) => {
          pages.push(options?.types);
          return store.readAll(options);
        },
      };
      const projections = new ProjectionEngine({
        database,
        store: watched,
        pollIntervalMs: 20,
        projections: [streamCounts()],
      });
      engines.push(projections);
      await projections.start();
      const first = await store.append('test.Mine-1', [counted()]);
      expect(await projections.waitFor('streamCounts', first.position, 30_000)).toBe(true);
      const before = pages.length;
      let other = first;
      for (let i = 0; i < 20; i++) {
        other = await store.append(`test.Other-${i}`, [
          { id: crypto.randomUUID(), type: 'Unrelated', data: {} },
        ]);
      }
      expect(await projections.waitFor('streamCounts', other.position, 30_000)).toBe(true);
      expect(pages.length - before).toBe(0);
      const mine = await store.append('test.Mine-1', [counted()]);
      expect(await projections.waitFor('streamCounts', mine.position, 30_000)).toBe(true);
      expect((await readCounts(database.db)).get('test.Mine-1')).toBe(2);
      expect(pages.length - before).toBeGreaterThan(0);
    });

    it('a throw mid-batch keeps neither the rows nor the checkpoint of the failing event', async () => {
      const good = await appendMany(store, 5, 1, 'test.Good');
      const poison = await store.append('test.Poison-1', [counted(99)]);
      const after = await appendMany(store, 4, 1, 'test.After');
      const isPoison = (e: RecordedEvent) => e.streamId === 'test.Poison-1';
      const projections = engine({ projections: [streamCounts({ failOn: isPoison })] });
      await projections.start();
      expect(await projections.waitFor('streamCounts', after.last, 30_000)).toBe(false);

      const counts = await readCounts(database.db);
      // The events before the culprit are committed (one transaction each after the batch failed) …
      for (const stream of good.streams) expect(counts.get(stream)).toBe(1);
      // … the culprit's own write rolled back with its checkpoint, and nothing after it was applied.
      expect(counts.has('test.Poison-1')).toBe(false);
      for (const stream of after.streams) expect(counts.has(stream)).toBe(false);
      const [status] = await projections.status();
      expect(status!.position).toBe(good.last);
      expect(status!.position).toBeLessThan(poison.position);
      expect(status).toMatchObject({ state: 'failed', lag: 5 });
      const [event] = await store.readStream('test.Poison-1');
      expect(status!.lastError).toMatchObject({ eventId: event!.id, position: poison.position });
      expect(status!.lastError!.message).toContain('cannot count');
    });

    it('marks only the failing projection failed; the others go on', async () => {
      const isPoison = (e: RecordedEvent) => e.streamId === 'test.Poison-2';
      const projections = engine({
        projections: [
          streamCounts({ name: 'failing', table: 'failing_counts', failOn: isPoison, batch: false }),
          streamCounts({ name: 'healthy', table: 'healthy_counts' }),
        ],
      });
      await projections.start();
      await appendMany(store, 3, 2);
      const poison = await store.append('test.Poison-2', [counted()]);
      const later = await appendMany(store, 3, 2);
      expect(await projections.waitFor('healthy', later.last, 30_000)).toBe(true);
      expect(await projections.waitFor('failing', later.last, 30_000)).toBe(false);
      expect(await projections.waitFor(['healthy', 'failing'], later.last, 30_000)).toBe(false);
      expect(await totalCount(database.db, 'healthy_counts')).toBe(13);
      expect(await totalCount(database.db, 'failing_counts')).toBe(6);

      const byName = new Map((await projections.status()).map((s) => [s.name, s]));
      expect(byName.get('healthy')).toMatchObject({ state: 'live', lag: 0, lastError: null });
      const [event] = await store.readStream('test.Poison-2');
      expect(byName.get('failing')).toMatchObject({
        state: 'failed',
        lastError: { eventId: event!.id, position: poison.position },
      });

      // The failure survives a restart of the process (a CLI sees it too) …
      await projections.stop();
      const observer = engine({ projections: [streamCounts({ name: 'failing', table: 'failing_counts' })] });
      expect((await observer.status())[0]).toMatchObject({
        state: 'failed',
        lastError: { eventId: event!.id },
      });
      // … and starting with fixed code retries the event and clears it.
      await observer.start();
      expect(await observer.waitFor('failing', later.last, 30_000)).toBe(true);
      expect(await totalCount(database.db, 'failing_counts')).toBe(13);
      expect((await observer.status())[0]).toMatchObject({ state: 'live', lastError: null });
    });

    it('a rebuild with fixed code clears a failure and the projection runs live again', async () => {
      let broken = true;
      const isPoison = (e: RecordedEvent) => broken && e.streamId === 'test.Poison-3';
      const projections = engine({ projections: [streamCounts({ failOn: isPoison })] });
      await projections.start();
      await appendMany(store, 2, 5);
      const poison = await store.append('test.Poison-3', [counted()]);
      expect(await projections.waitFor('streamCounts', poison.position, 30_000)).toBe(false);
      expect((await projections.status())[0]).toMatchObject({ state: 'failed' });

      broken = false;
      const result = await projections.rebuild('streamCounts');
      expect(result).toMatchObject({ events: 11, applied: 11 });
      expect(result.position).toBeGreaterThanOrEqual(poison.position);
      expect((await projections.status())[0]).toMatchObject({ state: 'live', lastError: null });
      const more = await appendMany(store, 1, 4);
      expect(await projections.waitFor('streamCounts', more.last, 30_000)).toBe(true);
      expect(await totalCount(database.db)).toBe(15);
    });

    it('rebuilds automatically when the version changes, then runs the new version live', async () => {
      const { last } = await appendMany(store, 10, 30);
      const v1 = engine({ projections: [streamCounts({ version: 1, weight: 1 })] });
      await v1.start();
      expect(await v1.waitFor('streamCounts', last, 30_000)).toBe(true);
      await v1.stop();
      expect(await totalCount(database.db)).toBe(300);

      const v2 = engine({ projections: [streamCounts({ version: 2, weight: 2 })], rebuildBatchSize: 100 });
      await v2.start();
      expect(await v2.waitFor('streamCounts', last, 30_000)).toBe(true);
      expect(await totalCount(database.db)).toBe(600);
      const more = await appendMany(store, 1, 5);
      expect(await v2.waitFor('streamCounts', more.last, 30_000)).toBe(true);
      expect(await totalCount(database.db)).toBe(610);
      expect((await v2.status())[0]).toMatchObject({ version: 2, state: 'live', rebuild: null });
    });

    it('creates the tables of a new projection on start, and reports lag while stopped', async () => {
      const projections = engine({ projections: [streamCounts()] });
      await projections.start();
      expect(await readCounts(database.db)).toEqual(new Map());
      const first = await appendMany(store, 1, 3);
      expect(await projections.waitFor('streamCounts', first.last, 30_000)).toBe(true);
      await projections.stop();
      await appendMany(store, 1, 7);
      const [status] = await engine({ projections: [streamCounts()] }).status();
      expect(status).toMatchObject({ state: 'stopped', position: first.last, lag: 7 });
    });

    it('waitFor: true once reached, false after the timeout, a typed error for an unknown name', async () => {
      const projections = engine({ projections: [streamCounts()] });
      await projections.start();
      const { last } = await appendMany(store, 1, 1);
      expect(await projections.waitFor('streamCounts', last, 30_000)).toBe(true);
      expect(await projections.waitFor('streamCounts', last + (1n << 40n), 100)).toBe(false);
      await expect(projections.waitFor('nope', 1n, 10)).rejects.toBeInstanceOf(UnknownProjectionError);
    });

    it('refuses a second rebuild of the same projection while one runs, here or in another engine', async () => {
      const { last } = await appendMany(store, 4, 50);
      const projections = engine({ projections: [streamCounts()] });
      await projections.start();
      expect(await projections.waitFor('streamCounts', last, 30_000)).toBe(true);
      // The first rebuild is held at its first progress report (lease taken, between transactions)
      // until both refusals are checked.
      let release = () => {};
      const hold = new Promise<void>((resolve) => {
        release = resolve;
      });
      const first = projections.rebuild('streamCounts', { onProgress: () => hold });
      const again = await projections.rebuild('streamCounts').catch((e: unknown) => e);
      expect(again).toBeInstanceOf(RebuildInProgressError);
      expect(again).toMatchObject({ code: 'ERR_REBUILD_IN_PROGRESS', projection: 'streamCounts' });
      // Another process (engine) is refused too once the first holds the lease in the table.
      const other = engine({ projections: [streamCounts()] });
      while (!(await other.status())[0]!.rebuild) await new Promise((resolve) => setTimeout(resolve, 10));
      expect((await other.status())[0]).toMatchObject({
        state: 'rebuilding',
        rebuild: { done: 0, total: 200 },
      });
      await expect(other.rebuild('streamCounts')).rejects.toBeInstanceOf(RebuildInProgressError);
      release();
      expect((await first).events).toBe(200);
      expect(await totalCount(database.db)).toBe(200);
      expect((await projections.status())[0]).toMatchObject({ state: 'live', rebuild: null });
      // With the lease released, a new rebuild goes ahead.
      expect((await other.rebuild('streamCounts')).events).toBe(200);
    });
  });
}
