import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { listPartitions, listWorkers, partitionOf } from '../../src/processes/runtime/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';
import { createSampleTables } from './fixtures/sample-process.ts';
import { appendSources, effects, handlingCount, handlings, waitUntil } from './support.ts';
import { type Line, rate, WorkerProcess } from './worker-process.ts';

const EVENTS = 2000;

// Real worker processes against a real PostgreSQL server; PGlite is one process, so these need DATABASE_URL.
describe.runIf(databaseUrl)('competing worker processes on PostgreSQL', () => {
  let test: TestDatabase | undefined;
  let database: Database;
  let store: EventStore;
  let effectsStream: string;
  let workers: WorkerProcess[] = [];

  async function setUp() {
    test = await freshPostgres(4);
    database = test.database;
    store = postgresEventStore(database);
    await createSampleTables(database);
    effectsStream = `test.Effects-${randomUUID()}`;
  }

  function spawnWorker(name: string, env: Record<string, string> = {}) {
    const worker = new WorkerProcess(name, {
      DATABASE_URL: databaseUrl!,
      WARDEN_TEST_SCHEMA: database.schema,
      EFFECTS_STREAM: effectsStream,
      ...env,
    });
    workers.push(worker);
    return worker;
  }

  const owns = (count: number) => (l: Line) => l.t === 'stats' && l.partitions?.length === count;

  afterEach(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    workers = [];
    await test?.dispose();
    test = undefined;
  });

  /** Every source event handled exactly once, with exactly one effect, whoever handled it. */
  async function expectExactlyOnce(sources: string[]) {
    expect(await handlings(database)).toMatchObject({ total: EVENTS, distinct: EVENTS });
    const { rows } = await sql<{ event_id: string }>`select event_id from test_handlings`.execute(
      database.db,
    );
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(sources));
    const effect = await effects(store, effectsStream);
    expect(effect).toMatchObject({ count: EVENTS, distinct: EVENTS });
    expect(new Set(effect.sources)).toEqual(new Set(sources));
  }

  it('two worker processes share the work and handle every event exactly once', {
    timeout: 240_000,
  }, async () => {
    await setUp();
    const a = spawnWorker('worker-a');
    const b = spawnWorker('worker-b');
    await Promise.all([a.waitFor('its half', owns(8)), b.waitFor('its half', owns(8))]);

    const started = Date.now();
    const sources = await appendSources(store, EVENTS, { streams: 200 });
    await waitUntil('every event handled', async () => (await handlingCount(database)) >= EVENTS, 120_000);
    const elapsed = Date.now() - started;
    expect(await a.stop()).toEqual({ code: 0, signal: null });
    expect(await b.stop()).toEqual({ code: 0, signal: null });

    await expectExactlyOnce(sources);
    const { byWorker } = await handlings(database);
    expect(byWorker['worker-a']).toBeGreaterThan(0);
    expect(byWorker['worker-b']).toBeGreaterThan(0);
    expect((await listPartitions(database)).every((p) => p.owner === null)).toBe(true);
    expect((await listWorkers(database)).map((w) => w.state)).toEqual(['stopped', 'stopped']);
    console.log(
      `[figures] shared: ${EVENTS} events in ${elapsed} ms; worker-a ${JSON.stringify(rate(a))}, worker-b ${JSON.stringify(rate(b))}`,
    );
  });

  it('a worker killed with SIGKILL mid-work is taken over and restarted; no effect happens twice', {
    timeout: 240_000,
  }, async () => {
    await setUp();
    const env = { LEASE_MS: '2000', DELAY_MS: '2' };
    const a = spawnWorker('worker-a', env);
    const b = spawnWorker('worker-b', env);
    await Promise.all([a.waitFor('its half', owns(8)), b.waitFor('its half', owns(8))]);
    const sources = await appendSources(store, EVENTS, { streams: 200 });

    await a.waitFor('the middle of its work', (l) => (l.handled ?? 0) >= 300);
    a.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const { byWorker } = await handlings(database);
    expect(byWorker['worker-a']).toBeGreaterThan(0);
    expect(await handlingCount(database)).toBeLessThan(EVENTS);

    // worker-b takes the dead worker's partitions once their leases run out.
    const takeover = await b.waitFor('the dead worker’s partitions', (l) => l.at >= killedAt && owns(16)(l));
    const restarted = spawnWorker('worker-a', env);
    await waitUntil('every event handled', async () => (await handlingCount(database)) >= EVENTS, 120_000);
    await restarted.waitFor('a share again', (l) => (l.partitions?.length ?? 0) > 0);
    expect(await restarted.stop()).toEqual({ code: 0, signal: null });
    expect(await b.stop()).toEqual({ code: 0, signal: null });

    await expectExactlyOnce(sources);
    console.log(
      `[figures] crash: takeover ${takeover.at - killedAt} ms after SIGKILL (lease 2000 ms); worker-b ${JSON.stringify(rate(b))}`,
    );
  });

  it('a gracefully stopped worker releases its leases and another takes over at its checkpoint', {
    timeout: 240_000,
  }, async () => {
    await setUp();
    // A one-minute lease: within this test's bounds a takeover can only come from the release.
    const env = { LEASE_MS: '60000', HEARTBEAT_MS: '250', DELAY_MS: '2' };
    const a = spawnWorker('worker-a', env);
    const b = spawnWorker('worker-b', env);
    await Promise.all([a.waitFor('its half', owns(8)), b.waitFor('its half', owns(8))]);
    const aPartitions = new Set(a.stats!.partitions);
    const sources = await appendSources(store, EVENTS, { streams: 200 });

    await a.waitFor('the middle of its work', (l) => (l.handled ?? 0) >= 300);
    expect(await a.stop()).toEqual({ code: 0, signal: null });
    const stopped = a.lines.find((l) => l.t === 'stopped')!;
    expect((await listPartitions(database)).some((p) => p.owner === 'worker-a')).toBe(false);
    expect((await listWorkers(database)).find((w) => w.id === 'worker-a')).toMatchObject({
      state: 'stopped',
      handled: stopped.handled,
      partitions: [],
    });
    expect(await handlingCount(database)).toBeLessThan(EVENTS);

    const takeover = await b.waitFor('every partition', (l) => l.at >= stopped.at && owns(16)(l), 30_000);
    await waitUntil('every event handled', async () => (await handlingCount(database)) >= EVENTS, 120_000);
    expect(await b.stop()).toEqual({ code: 0, signal: null });
    await expectExactlyOnce(sources);

    // In each partition worker-a gave up, worker-b started right after worker-a's last event.
    const { rows } = await sql<{ stream_id: string; position: string; worker: string }>`
        select stream_id, position, worker from test_handlings`.execute(database.db);
    for (const partition of aPartitions) {
      const mine = rows.filter((r) => partitionOf(r.stream_id, 16) === partition);
      const byA = mine.filter((r) => r.worker === 'worker-a').map((r) => BigInt(r.position));
      const byB = mine.filter((r) => r.worker === 'worker-b').map((r) => BigInt(r.position));
      expect(byA.every((x) => byB.every((y) => x < y))).toBe(true);
    }
    expect(stopped.handled).toBe((await handlings(database)).byWorker['worker-a']);
    console.log(`[figures] graceful: takeover ${takeover.at - stopped.at} ms after stop (lease 60000 ms)`);
  });
});
