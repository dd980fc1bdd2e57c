import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { ProjectionEngine, type RebuildProgress } from '../../src/projections/engine/index.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';
import { shadowSchemaName } from '../../src/projections/engine/schemas.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds, databaseUrl, freshPostgres } from '../support/postgres.ts';
import { visible } from '../support/visibility.ts';
import { appendMany, COUNTED, counted, streamCounts, totalCount } from './stream-counts.ts';

const EVENTS = 50_000;
const STREAMS = 100;

for (const kind of databaseKinds) {
  describe(`projection rebuild without downtime (${kind.name})`, () => {
    let test: TestDatabase;
    let database: Database;
    let store: EventStore;
    let engine: ProjectionEngine;

    beforeEach(async () => {
      test = await kind.fresh();
      database = test.database;
      store = postgresEventStore(database, { pollIntervalMs: 20 });
    });
    afterEach(async () => {
      await engine.stop();
      await test.dispose();
    });

    it(`rebuilds over ${EVENTS} events while queries run: none fails, none sees a partial or empty table`, async () => {
      const { streams, last } = await appendMany(store, STREAMS, EVENTS / STREAMS);
      engine = new ProjectionEngine({ database, store, projections: [streamCounts()], pollIntervalMs: 20 });
      await engine.start();
      expect(await engine.waitFor('streamCounts', last, 120_000)).toBe(true);
      expect(await totalCount(database.db)).toBe(EVENTS);

      // Readers query the live table without pause; a writer keeps appending (the live loop goes on).
      let rebuilding = true;
      const seen = { queries: 0, failures: [] as unknown[], partial: [] as number[] };
      const reader = async () => {
        while (rebuilding) {
          try {
            const total = await totalCount(database.db);
            seen.queries++;
            if (total < EVENTS) seen.partial.push(total);
          } catch (error) {
            seen.failures.push(error);
          }
        }
      };
      let appended = 0;
      const writer = async () => {
        while (rebuilding) {
          await store.append(streams[appended % STREAMS]!, [counted(), counted()]);
          appended += 2;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      const progress: RebuildProgress[] = [];
      const running = [reader(), reader(), writer()];
      const result = await engine.rebuild('streamCounts', {
        onProgress: (p) => {
          progress.push(p);
        },
      });
      rebuilding = false;
      await Promise.all(running);

      console.log(
        `[${kind.name}] rebuild: ${result.events} events in ${result.seconds.toFixed(2)} s = ` +
          `${result.eventsPerSecond} events/s; ${seen.queries} queries ran meanwhile, ${appended} events appended`,
      );
      expect(seen.failures).toEqual([]);
      expect(seen.partial).toEqual([]);
      expect(seen.queries).toBeGreaterThan(0);
      expect(result.events).toBeGreaterThanOrEqual(EVENTS);
      // Never over-counted: what was visible at any point is read by the end.
      expect(progress.filter((p) => p.total > result.events)).toEqual([]);
      expect(progress.at(-1)).toEqual({ done: result.events, total: result.events });
      // The swapped-in table went on live: it holds every event, including those written meanwhile.
      // Waited for by count, not by headPosition: on a shared server the head a reader may see lags
      // behind the last appends while other sessions hold transactions open (the xid visibility bound),
      // so "reached the head" can come before the last few events are visible. A lost event never arrives.
      await expect
        .poll(() => totalCount(database.db), { timeout: 60_000, interval: 100 })
        .toBe(EVENTS + appended);
      const [status] = await engine.status();
      expect(status).toMatchObject({ state: 'live', lag: 0, rebuild: null, lastError: null });
    });

    it('swaps in tables that carry planner statistics (sampled before the swap, not left to autovacuum)', async () => {
      await appendMany(store, 20, 10);
      engine = new ProjectionEngine({ database, store, projections: [streamCounts()], pollIntervalMs: 20 });
      await engine.start();
      await engine.rebuild('streamCounts');
      const { rows } = await sql<{ column: string }>`
        select attname as column from pg_stats
        where schemaname = current_schema() and tablename = 'stream_counts' order by attname`.execute(
        database.db,
      );
      expect(rows.map((r) => r.column)).toEqual(['events', 'last_position', 'stream_id']);
    });

    it('counts progress exactly when pages commit out of order (a short last page before a full one)', async () => {
      // Pages of 100 over 250 events: 100, 100, 50. The second page is held back, so on PostgreSQL
      // (two shadow writers) the short last page commits first; PGlite writes one page at a time.
      await appendMany(store, 5, 50);
      const second = (await store.readAll({ limit: 250 }))[100]!.position;
      let armed = false;
      const projection = streamCounts({
        independentPages: true,
        onApply: async (events) => {
          if (armed && events[0]!.position === second) await new Promise((r) => setTimeout(r, 500));
        },
      });
      engine = new ProjectionEngine({
        database,
        store,
        projections: [projection],
        pollIntervalMs: 20,
        rebuildBatchSize: 100,
      });
      await engine.start();
      await expect.poll(() => totalCount(database.db), { timeout: 30_000 }).toBe(250);
      armed = true;
      const progress: RebuildProgress[] = [];
      const result = await engine.rebuild('streamCounts', { onProgress: (p) => void progress.push(p) });
      expect(result.events).toBe(250);
      // Nothing was appended meanwhile: the log's size is known from the start and never over-counted.
      expect(progress.filter((p) => p.total !== 250)).toEqual([]);
      expect(progress.at(-1)).toEqual({ done: 250, total: 250 });
      expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((a, b) => a - b));
      expect(await totalCount(database.db)).toBe(250);
    });

    it('folds entities side by side on PostgreSQL (two writers), each entity in log order, across pages', async () => {
      // 12 entities, one event each per round, 20 rounds: every page of 25 holds many entities, and
      // every entity's events straddle most pages. The journal keeps each entity's events in the order
      // it folded them, so an event folded before an earlier one of its entity shows.
      // Fixed names, so how they fall into the two lanes is the same on every run (both lanes get some).
      const entities = Array.from({ length: 12 }, (_, i) => `test.Journal-${i}`);
      let last = 0n;
      for (let round = 0; round < 20; round++) {
        for (const entity of entities) last = (await store.append(entity, [counted(round)])).position;
      }
      await visible(store, last);
      let inFlight = 0;
      let most = 0;
      let armed = false;
      const projection = journal(async () => {
        if (!armed) return;
        inFlight++;
        most = Math.max(most, inFlight);
        // Long enough for the other writer's transaction to start meanwhile, if there is one.
        await new Promise((r) => setTimeout(r, 30));
        inFlight--;
      });
      engine = new ProjectionEngine({
        database,
        store,
        projections: [projection],
        pollIntervalMs: 20,
        rebuildBatchSize: 25,
      });
      await engine.start();
      expect(await engine.waitFor('journal', last, 30_000)).toBe(true);
      const rows = async () =>
        (
          await sql<{
            entity: string;
            folded: number[];
          }>`select entity, folded from journal order by entity`.execute(database.db)
        ).rows;
      const rounds = Array.from({ length: 20 }, (_, i) => i);
      expect(await rows()).toEqual([...entities].sort().map((entity) => ({ entity, folded: rounds })));
      armed = true;
      const result = await engine.rebuild('journal');
      expect(result.events).toBe(240);
      expect(await rows()).toEqual([...entities].sort().map((entity) => ({ entity, folded: rounds })));
      // PGlite is one session: one page at a time there.
      expect(most).toBe(kind.name === 'postgres' ? 2 : 1);
    });
  });
}

/**
 * A read model of entities (one per stream) that records the order it folds each one's events in:
 * `folded` is the events' `n`, appended as they come, so it is ordered only if they came in order.
 */
function journal(onApply: () => Promise<void>): Projection {
  const fold = async (db: Kysely<unknown>, events: readonly RecordedEvent[]) => {
    await onApply();
    const byEntity = new Map<string, number[]>();
    for (const event of events) {
      byEntity.set(event.streamId, [
        ...(byEntity.get(event.streamId) ?? []),
        (event.data as { n: number }).n,
      ]);
    }
    for (const [entity, folded] of byEntity) {
      await sql`
        insert into journal (entity, folded) values (${entity}, ${folded}::int[])
        on conflict (entity) do update set folded = journal.folded || excluded.folded`.execute(db);
    }
  };
  return {
    name: 'journal',
    version: 1,
    types: [COUNTED],
    tables: ['journal'],
    async createTables(db) {
      await db.schema
        .createTable('journal')
        .addColumn('entity', 'text', (c) => c.primaryKey())
        .addColumn('folded', sql`int[]`, (c) => c.notNull())
        .execute();
    },
    apply: (event, db) => fold(db as Kysely<unknown>, [event]),
    applyBatch: (events, db) => fold(db as Kysely<unknown>, events),
    entityOf: (event) => event.streamId,
  };
}

// Only a real server has concurrent sessions and lock queues; PGlite runs one statement at a time,
// so there a query simply runs before or after the swap transaction.
describe.runIf(databaseUrl)('the swap under concurrent queries (postgres)', () => {
  let test: TestDatabase;
  let engine: ProjectionEngine;
  let holder: pg.Client;
  beforeEach(async () => {
    test = await freshPostgres();
    holder = new pg.Client({
      connectionString: databaseUrl,
      options: `-c search_path=${test.database.schema}`,
    });
    await holder.connect();
  });
  afterEach(async () => {
    await engine.stop();
    await holder.end();
    await test.dispose();
  });

  it('queries queued behind the swap wait, then read the moved-in table (the name is resolved again)', async () => {
    const { database } = test;
    const store = postgresEventStore(database, { pollIntervalMs: 20 });
    const { last } = await appendMany(store, 20, 100);
    engine = new ProjectionEngine({ database, store, projections: [streamCounts()], pollIntervalMs: 20 });
    await engine.start();
    expect(await engine.waitFor('streamCounts', last, 20_000)).toBe(true);

    // A long reader holds the live table, so the swap's DROP has to wait for it …
    await holder.query('begin');
    await holder.query('select count(*) from stream_counts');
    const waiting = async (n: number) => {
      for (;;) {
        const { rows } = await holder.query<{ n: string }>(
          `select count(*) as n from pg_locks l join pg_class c on c.oid = l.relation
             join pg_namespace s on s.oid = c.relnamespace
           where s.nspname = $1 and c.relname = 'stream_counts' and not l.granted`,
          [database.schema],
        );
        if (Number(rows[0]!.n) >= n) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const rebuild = engine.rebuild('streamCounts');
    await waiting(1);
    // … and queries arriving now queue behind the swap's lock on the old table.
    const readers = Array.from({ length: 5 }, () => totalCount(database.db));
    await waiting(6);
    await holder.query('commit');

    expect((await rebuild).events).toBe(2000);
    expect(await Promise.all(readers)).toEqual([2000, 2000, 2000, 2000, 2000]);
  });
  it('stops, and swaps nothing in, when the server lost the shadow (crash recovery empties its unlogged sentinel)', async () => {
    const { database } = test;
    const store = postgresEventStore(database, { pollIntervalMs: 20 });
    const { last } = await appendMany(store, 10, 100);
    engine = new ProjectionEngine({
      database,
      store,
      projections: [streamCounts()],
      pollIntervalMs: 20,
      rebuildBatchSize: 100,
    });
    await engine.start();
    expect(await engine.waitFor('streamCounts', last, 20_000)).toBe(true);
    const shadow = shadowSchemaName(database.schema, 'streamCounts');

    // What recovery does to every unlogged table, done to the sentinel after the third page: the
    // pages before it may be gone (committed without waiting for the WAL flush), the process goes on.
    const rebuild = engine.rebuild('streamCounts', {
      onProgress: async (p) => {
        if (p.done === 300) await holder.query(`truncate ${shadow}.warden_rebuild_sentinel`);
      },
    });
    await expect(rebuild).rejects.toThrow(/crash recovery/);
    // The live table was never replaced, and the shadow is gone.
    expect(await totalCount(database.db)).toBe(1000);
    const { rows } = await holder.query('select 1 from pg_namespace where nspname = $1', [shadow]);
    expect(rows).toEqual([]);

    // A rebuild then runs through, and leaves no sentinel behind.
    expect((await engine.rebuild('streamCounts')).events).toBe(1000);
    expect((await holder.query('select 1 from pg_namespace where nspname = $1', [shadow])).rows).toEqual([]);
    expect(await totalCount(database.db)).toBe(1000);
  });
});
