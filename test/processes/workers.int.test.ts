import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decider } from '../../src/commands/kernel/index.ts';
import { deriveId } from '../../src/commands/kernel/index.ts';
import type { Database } from '../../src/db/database.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { transactionBindingFor } from '../../src/eventstore/postgres/transactional-store.ts';
import {
  listPartitions,
  listWorkers,
  type ProcessManager,
  partitionOf,
  startWorkers,
  type Worker,
  type WorkerOptions,
} from '../../src/processes/runtime/index.ts';
import { freshPGlite, type TestDatabase } from '../support/databases.ts';
import {
  createSampleTables,
  EFFECT_TYPE,
  SAMPLE_PROCESS,
  SOURCE_TYPE,
  sampleProcess,
} from './fixtures/sample-process.ts';
import { appendSources, capturingLogger, effects, handlingCount, handlings, waitUntil } from './support.ts';

// One process on embedded PGlite: the same runtime as on PostgreSQL, with workers in-process.
describe('process manager workers on PGlite', () => {
  let test: TestDatabase;
  let database: Database;
  let store: EventStore;
  const workers: Worker[] = [];

  async function setUp() {
    test = await freshPGlite();
    database = test.database;
    store = postgresEventStore(database, { pollIntervalMs: 20 });
    await createSampleTables(database);
  }

  function start(options: Partial<WorkerOptions> & Pick<WorkerOptions, 'processes'>) {
    return startWorkers({
      database,
      store,
      storeIn: transactionBindingFor(database, store),
      leaseMs: 1000,
      heartbeatMs: 100,
      ...options,
    }).then((w) => {
      workers.push(w);
      return w;
    });
  }

  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    await test?.dispose();
  });

  it('handles every event exactly once, appends effects with ids derived from the cause, and reports itself', async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    const sources = await appendSources(store, 300, { streams: 40 });
    const worker = await start({
      workerId: 'w1',
      processes: [sampleProcess({ effectsStream, worker: 'w1' })],
    });
    await waitUntil('all 300 handled', async () => (await handlingCount(database)) >= 300);

    expect(await handlings(database)).toEqual({ total: 300, distinct: 300, byWorker: { w1: 300 } });
    const stored = await store.readStream(effectsStream, { limit: 1000 });
    expect(stored.map((e) => (e.data as { source: string }).source).sort()).toEqual([...sources].sort());
    const first = stored[0]!;
    const cause = (first.data as { source: string }).source;
    expect(first.id).toBe(await deriveId(SAMPLE_PROCESS, cause, 'emit', effectsStream, '', 0));
    expect(first.metadata).toMatchObject({
      causationId: cause,
      tenantId: 'default',
      actorId: `process:${SAMPLE_PROCESS}`,
    });

    expect(worker.stats()).toMatchObject({ id: 'w1', handled: 300 });
    // Live means a heartbeat within the lease (1 s here); on a loaded machine one read can fall in a
    // late beat, so wait for the next one rather than judge a single snapshot.
    const status = await waitUntil('the worker reports itself live', async () => {
      const [row] = await listWorkers(database);
      return row?.state === 'live' ? row : undefined;
    });
    expect(status).toMatchObject({ id: 'w1', state: 'live', processes: [SAMPLE_PROCESS] });
    expect(status!.partitions).toHaveLength(16);

    await worker.stop();
    const after = await listWorkers(database);
    expect(after[0]).toMatchObject({ id: 'w1', state: 'stopped', handled: 300, partitions: [] });
    const partitions = await listPartitions(database);
    expect(partitions.every((p) => p.owner === null)).toBe(true);
    expect(partitions.reduce((n, p) => n + p.handled, 0)).toBe(300);
  });

  it("announces a handling transaction's appends to the store's listeners once it has committed", async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    const heard: { types: string[]; visible: number }[] = [];
    const before = await store.headPosition();
    // Each announcement, with how many effects a reader could see at that moment: none may come
    // before its transaction committed (a projection woken then would find nothing and sleep).
    store.onAppend((types) => {
      if (!types.includes(EFFECT_TYPE)) return;
      const entry = { types: [...types], visible: -1 };
      heard.push(entry);
      void store.readAll({ after: before, types: [EFFECT_TYPE] }).then((page) => {
        entry.visible = page.length;
      });
    });
    await appendSources(store, 30, { streams: 5 });
    await start({ workerId: 'w1', processes: [sampleProcess({ effectsStream, worker: 'w1' })] });
    await waitUntil('all 30 handled', async () => (await handlingCount(database)) >= 30);
    await waitUntil('every announcement checked', async () => heard.every((h) => h.visible >= 0));
    expect(heard.length).toBeGreaterThan(0);
    expect(heard.every((h) => h.types.includes(EFFECT_TYPE) && h.visible > 0)).toBe(true);
  });

  it('two workers split the partitions and never handle an event twice', async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    const a = await start({ workerId: 'a', processes: [sampleProcess({ effectsStream, worker: 'a' })] });
    const b = await start({ workerId: 'b', processes: [sampleProcess({ effectsStream, worker: 'b' })] });
    await waitUntil(
      'a fair split',
      () =>
        a.stats().partitions[SAMPLE_PROCESS]?.length === 8 &&
        b.stats().partitions[SAMPLE_PROCESS]?.length === 8,
    );
    const mine = new Set([...a.stats().partitions[SAMPLE_PROCESS]!]);
    expect(b.stats().partitions[SAMPLE_PROCESS]!.some((p) => mine.has(p))).toBe(false);

    await appendSources(store, 400, { streams: 50 });
    await waitUntil('all 400 handled', async () => (await handlingCount(database)) >= 400);
    const counted = await handlings(database);
    expect(counted).toMatchObject({ total: 400, distinct: 400 });
    expect(counted.byWorker.a).toBeGreaterThan(0);
    expect(counted.byWorker.b).toBeGreaterThan(0);
    expect(await effects(store, effectsStream)).toMatchObject({ count: 400, distinct: 400 });
  });

  it('splits each process among the workers that run it: one running two processes holds all of the one it runs alone', async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    const other = (worker: string) => ({ ...sampleProcess({ effectsStream, worker }), name: 'otherEffects' });
    const a = await start({
      workerId: 'a',
      processes: [sampleProcess({ effectsStream, worker: 'a' }), other('a')],
    });
    const b = await start({ workerId: 'b', processes: [other('b')] });
    await waitUntil(
      'a fair split of the shared process',
      () =>
        a.stats().partitions.otherEffects?.length === 8 && b.stats().partitions.otherEffects?.length === 8,
    );
    // Renewed over several heartbeats, counted per process: a keeps every partition of its own one.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(a.stats().partitions[SAMPLE_PROCESS]).toHaveLength(16);
    expect(a.stats().partitions.otherEffects).toHaveLength(8);
    expect(b.stats().partitions.otherEffects).toHaveLength(8);
    expect(b.stats().partitions[SAMPLE_PROCESS]).toBeUndefined();
  });

  it('a replay from position 0 runs the handlers again but appends no effect twice', async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    const counter = counterProcess();
    await appendSources(store, 120, { streams: 12 });
    const processes = [sampleProcess({ effectsStream, worker: 'first' }), counter];
    const first = await start({ workerId: 'first', processes });
    await waitUntil('120 handled', async () => (await handlingCount(database)) >= 120);
    await waitUntil('counters done', async () => (await countersTotal(store)) === 120);
    await first.stop();

    await sql`update warden_process_partitions set position = 0`.execute(database.db);
    await start({
      workerId: 'replay',
      processes: [sampleProcess({ effectsStream, worker: 'replay' }), counter],
    });
    await waitUntil('the replay ran every handler again', async () => (await handlingCount(database)) >= 240);
    await waitUntil('the counter process handled every event a second time', async () => {
      const rows = (await listPartitions(database)).filter((p) => p.process === 'sourceCounter');
      return rows.reduce((n, p) => n + p.handled, 0) === 240;
    });
    expect(await effects(store, effectsStream)).toMatchObject({ count: 120, distinct: 120 });
    expect(await countersTotal(store)).toBe(120);
  });

  it('an event whose handler throws holds only its partition, is recorded, and is retried until it succeeds', async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    const sources = await appendSources(store, 200, { streams: 20 });
    const poisoned = sources[37]!;
    let failing = true;
    const logger = capturingLogger();
    // Leases of 5 s: what is under test is the poisoned partition, not lease hand-over; with 1 s leases a
    // loaded CI machine let heartbeats slip, and the worker kept losing and re-claiming its own partitions.
    await start({
      workerId: 'w',
      logger,
      leaseMs: 5000,
      heartbeatMs: 500,
      processes: [sampleProcess({ effectsStream, worker: 'w', fail: (id) => failing && id === poisoned })],
    });
    const stuck = await waitUntil('the failure recorded', async () =>
      (await listPartitions(database)).find((p) => p.failedEventId === poisoned),
    );
    expect(stuck.lastError).toContain(`cannot handle ${poisoned}`);
    const poisonedStream = (await store.readAll({ limit: 1000 })).find((e) => e.id === poisoned)!.streamId;
    // Only source events count: the effects stream lands in the poisoned partition one run in sixteen,
    // and counting its effects here made the wait below unreachable (a CI run timed out on it).
    const blocked = (await store.readAll({ limit: 1000 })).filter(
      (e) =>
        e.type === SOURCE_TYPE &&
        partitionOf(e.streamId, 16) === partitionOf(poisonedStream, 16) &&
        e.position >= stuck.failedPosition!,
    ).length;
    // Generous (the test allows 150 s): the other 15 partitions carry on while one retries, but on two loaded
    // cores with 1 s leases they may change hands on the way (a CI run next to other suites took over 45 s).
    await waitUntil(
      'every other event handled',
      async () => (await handlingCount(database)) === 200 - blocked,
      120_000,
    );
    expect(logger.lines.some((l) => l.level === 'error' && l.message.includes('failed to handle'))).toBe(
      true,
    );

    failing = false;
    await waitUntil('all handled after the fix', async () => (await handlingCount(database)) >= 200);
    expect(await handlings(database)).toMatchObject({ total: 200, distinct: 200 });
    const healed = (await listPartitions(database)).find((p) => p.partition === stuck.partition)!;
    expect(healed).toMatchObject({ lastError: null, failedEventId: null });
  }, 150_000);

  it('a process manager that starts from now ignores the history before its first start', async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    await appendSources(store, 50, { streams: 10 });
    const late = { ...sampleProcess({ effectsStream, worker: 'w' }), startFrom: 'now' as const };
    await start({ workerId: 'w', processes: [late] });
    const fresh = await appendSources(store, 10, { streams: 10 });
    await waitUntil('the new events handled', async () => (await handlingCount(database)) >= 10);
    const { rows } = await sql<{ event_id: string }>`select event_id from test_handlings`.execute(
      database.db,
    );
    expect(rows.map((r) => r.event_id).sort()).toEqual([...fresh].sort());
  });

  it('a worker whose partition was taken cannot move its checkpoint or commit effects', async () => {
    await setUp();
    const effectsStream = `test.Effects-${randomUUID()}`;
    const logger = capturingLogger();
    // Heartbeats far apart: the worker does not notice the loss before it tries to commit.
    await start({
      workerId: 'w',
      logger,
      leaseMs: 60_000,
      heartbeatMs: 60_000,
      processes: [sampleProcess({ effectsStream, worker: 'w' })],
    });
    const prefix = `test.Source-${randomUUID()}`;
    const partition = partitionOf(`${prefix}-0`, 16);
    await sql`update warden_process_partitions set owner = 'intruder' where partition = ${partition}`.execute(
      database.db,
    );
    const [event] = await appendSources(store, 1, { prefix, streams: 1 });
    await waitUntil('the lease loss noticed', () =>
      logger.lines.some((l) => l.message.startsWith('lease lost')),
    );
    const row = (await listPartitions(database)).find((p) => p.partition === partition)!;
    expect(row).toMatchObject({ owner: 'intruder', position: 0n, handled: 0 });
    expect(await handlingCount(database)).toBe(0);
    expect((await effects(store, effectsStream)).sources).not.toContain(event);
  });
});

interface CounterState {
  count: number;
}
type Counted = { type: 'test.Counted'; data: { source: string } };
const counterDecider: Decider<{ source: string }, Counted, CounterState> = {
  initialState: () => ({ count: 0 }),
  decide: (command) => [{ type: 'test.Counted', data: { source: command.source } }],
  evolve: (state) => ({ count: state.count + 1 }),
};

/** Issues a command per source event through `handle` (load → decide → append). */
function counterProcess(): ProcessManager {
  return {
    name: 'sourceCounter',
    types: [SOURCE_TYPE],
    async handle(event, ctx) {
      await ctx.issue(`test.Counter-${event.streamId}`, counterDecider, { source: event.id });
    },
  };
}

async function countersTotal(store: EventStore): Promise<number> {
  return (await store.readAll({ types: ['test.Counted'], limit: 10_000 })).length;
}
