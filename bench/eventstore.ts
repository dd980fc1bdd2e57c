/**
 * `npm run bench:eventstore` — Warden's PostgreSQL event store against a raw-SQL baseline and the
 * peer store @event-driven-io/emmett-postgresql, measured in the same run on the same server.
 * Issue 3 point 9 is the specification. Not a test: it prints figures; the last line is JSON.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import { connectPostgres, type Database, dropSchema } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { postgresEventStore } from '../src/eventstore/postgres/store.ts';
import { BACKEND_PID_SQL, backendPids, type CpuCost, CpuWindow } from './support/cpu.ts';
import { EmmettPeer } from './support/emmett-peer.ts';
import { type Figures, type Settings, summaryJson, tableRows } from './support/figures.ts';
import { EVENTS_PER_ISSUE, loadIssueBacklog, measureLive } from './support/live.ts';
import {
  type Contender,
  pairedRatio,
  rounds,
  runConcurrent,
  type Step,
  summarize,
  type Throughput,
  timed,
} from './support/measure.ts';
import { STREAMS_PER_WRITER } from './support/payload.ts';
import { createRawTable, RAW_TABLE_DDL, rawInserter, rawReadAll } from './support/raw.ts';
import { printCosts, printTable } from './support/report.ts';
import {
  wardenAppender,
  wardenConcurrentRead,
  wardenReadAll,
  wardenSubscribeCatchUp,
} from './support/warden.ts';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';
const WRITERS = 8;
const BATCH = 100;
/** The batch workloads use 8 concurrent writers on every side, like the single-event ones. */
const BATCH_WRITERS = WRITERS;
const FIRST_WARMUP_MS = 1500;
const WARMUP_MS = 500;
const WINDOW_MS = 2000;
const APPEND_ROUNDS = 4;
const READ_ROUNDS = 4;
const READ_MAX = 100_000;
/** emmett's $all read is an order of magnitude slower; it reads fewer events, once per round. */
const EMMETT_READ_MAX = 30_000;
const EMMETT_READ_ROUNDS = 2;
const ORDERING_WRITE_MS = 5000;
const CATCH_UP_MS = 20_000;
/** Issues of the live-projection backlog (four events each): at least 100,000 events. */
const LIVE_ISSUES = Number(process.env.BENCH_LIVE_ISSUES ?? 26_000);
/** Issues of the smaller log the per-event rebuild replays. */
const PER_EVENT_ISSUES = 2_500;

const SETTINGS: Settings = { writers: WRITERS, batch: BATCH, batchWriters: BATCH_WRITERS };

interface Samples {
  raw: Throughput[];
  warden: Throughput[];
  emmett: Throughput[];
}

async function main(): Promise<void> {
  const envUrl = process.env.DATABASE_URL;
  const url = envUrl ?? DEFAULT_URL;
  const runId = randomUUID().replaceAll('-', '').slice(0, 10);
  const names = {
    warden: `bench_${runId}_warden`,
    ordering: `bench_${runId}_ordering`,
    raw: `bench_${runId}_raw`,
    emmettDb: `bench_${runId}_emmett`,
    emmettOrderingDb: `bench_${runId}_emmett_ordering`,
    live: `bench_${runId}_live`,
    perEvent: `bench_${runId}_per_event`,
  };

  const admin = new pg.Pool({ connectionString: url, max: 1 });
  const version =
    (await admin.query<{ server_version: string }>('show server_version')).rows[0]?.server_version ?? '?';
  console.log('Warden event store benchmark (issue 3, point 9)');
  console.log(
    envUrl ? `DATABASE_URL: ${redact(url)}` : `DATABASE_URL is not set: using the default ${DEFAULT_URL}`,
  );
  console.log(
    `PostgreSQL ${version}; Node ${process.version}; ${os.cpus().length} cores (load ${os.loadavg()[0]?.toFixed(1)}); ` +
      `${WRITERS} writers on ${WRITERS}-connection pools; batches of ${BATCH} with ${BATCH_WRITERS} writers on every side`,
  );
  console.log(
    `Appends: ${APPEND_ROUNDS} rounds of ${WINDOW_MS} ms windows per side (order rotated each round, ${WARMUP_MS} ms ` +
      `warm-up before each window, ${FIRST_WARMUP_MS} ms before the first); figures are medians, ratios medians of per-round ratios`,
  );
  console.log(`Raw baseline table: ${RAW_TABLE_DDL.replace(/\s+/g, ' ')}`);
  console.log(
    'Each ratio is printed with its target and whether it is met (bench/support/figures.ts TARGETS)',
  );
  console.log(
    `Schemas ${names.warden}, ${names.ordering}, ${names.raw}, ${names.live}, ${names.perEvent}; databases ${names.emmettDb}, ${names.emmettOrderingDb} (dropped at the end)`,
  );
  console.log('');

  const opened: Database[] = [];
  const rawPool = new pg.Pool({
    connectionString: url,
    max: WRITERS,
    options: `-c search_path=${names.raw}`,
  });
  let peer: EmmettPeer | undefined;
  let createdDatabases = false;
  try {
    await admin.query(`create schema ${names.raw}`);
    await createRawTable(rawPool);
    const database = await connectPostgres({ url, schema: names.warden, poolSize: WRITERS });
    opened.push(database);
    await migrate(database);
    const store = postgresEventStore(database);
    await admin.query(`create database ${names.emmettDb}`);
    await admin.query(`create database ${names.emmettOrderingDb}`);
    createdDatabases = true;
    const emmett = EmmettPeer.start();
    peer = emmett;
    await emmett.request({
      cmd: 'init',
      url: withDatabase(url, names.emmettDb),
      orderingUrl: withDatabase(url, names.emmettOrderingDb),
      writers: WRITERS,
    });

    const rawCpu = async () =>
      new CpuWindow(
        await backendPids(
          WRITERS,
          async () => (await rawPool.query<{ pid: number }>(BACKEND_PID_SQL)).rows[0]!.pid,
        ),
      );
    const wardenCpu = poolCpu(database);
    const windowed = (
      step: Step,
      cpu: () => Promise<CpuWindow>,
      writers: number,
    ): (() => Promise<Throughput>) => {
      let first = true;
      return async () => {
        const warmupMs = first ? FIRST_WARMUP_MS : WARMUP_MS;
        first = false;
        return runConcurrent(writers, step, { warmupMs, windowMs: WINDOW_MS, cpu: await cpu() });
      };
    };
    const emmettWindowed = (tag: string, batch: number): (() => Promise<Throughput>) => {
      let first = true;
      return async () => {
        const warmupMs = first ? FIRST_WARMUP_MS : WARMUP_MS;
        first = false;
        const answer = await emmett.request({ cmd: 'append', tag, batch, warmupMs, windowMs: WINDOW_MS });
        return answer.throughput!;
      };
    };

    progress('single-event appends: raw INSERT, Warden append, emmett appendToStream');
    const single = toSamples(
      await rounds(
        [
          { name: 'raw', run: windowed(rawInserter(rawPool, 'Single', 1), rawCpu, WRITERS) },
          { name: 'warden', run: windowed(wardenAppender(store, 'Single', 1), wardenCpu, WRITERS) },
          { name: 'emmett', run: emmettWindowed('Single', 1) },
        ],
        APPEND_ROUNDS,
      ),
    );

    progress(`${BATCH}-event appends: raw multi-row INSERT, Warden append, emmett appendToStream`);
    const batch = toSamples(
      await rounds(
        [
          { name: 'raw', run: windowed(rawInserter(rawPool, 'Batch', BATCH), rawCpu, BATCH_WRITERS) },
          { name: 'warden', run: windowed(wardenAppender(store, 'Batch', BATCH), wardenCpu, BATCH_WRITERS) },
          { name: 'emmett', run: emmettWindowed('Batch', BATCH) },
        ],
        APPEND_ROUNDS,
      ),
    );

    const table = `${names.warden}.warden_events`;
    const total = Number((await admin.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]?.n);
    const readMax = Math.min(total, READ_MAX);
    progress(`read all in global order, pages of 1000: ${readMax} of ${total} events per pass`);
    // Untimed passes first: the JIT and the heap settle, and every pass reads from a warm cache.
    for (let i = 0; i < 2; i++) {
      await rawReadAll(rawPool, table, readMax);
      await wardenReadAll(store, readMax);
    }
    const readContenders: Contender[] = [
      { name: 'raw', run: async () => timed(() => rawReadAll(rawPool, table, readMax), await rawCpu()) },
      { name: 'warden', run: async () => timed(() => wardenReadAll(store, readMax), await wardenCpu()) },
    ];
    const reads = await rounds(readContenders, READ_ROUNDS);
    const rawRead = reads.get('raw')!;
    const wardenRead = reads.get('warden')!;
    const wardenSubscribe = await timed(() => wardenSubscribeCatchUp(store, readMax), await wardenCpu());
    const emmettRead: Throughput[] = [];
    for (let i = 0; i < EMMETT_READ_ROUNDS; i++) {
      emmettRead.push(
        (await emmett.request({ cmd: 'readAll', max: Math.min(readMax, EMMETT_READ_MAX) })).throughput!,
      );
    }

    progress(`Warden: ${WRITERS} writers for ${ORDERING_WRITE_MS} ms while a reader follows readAll`);
    const orderingDb = await connectPostgres({ url, schema: names.ordering, poolSize: WRITERS });
    opened.push(orderingDb);
    await migrate(orderingDb);
    const orderingStore = postgresEventStore(orderingDb);
    const wardenOrdering = await wardenConcurrentRead(
      orderingStore,
      async () => {
        const { rows } = await sql<{
          head: string | null;
        }>`select max(position) as head from warden_events`.execute(orderingDb.db);
        return BigInt(rows[0]?.head ?? 0);
      },
      { writers: WRITERS, writeMs: ORDERING_WRITE_MS, catchUpMs: CATCH_UP_MS },
    );
    const orderingTableCount = Number(
      (await admin.query<{ n: string }>(`select count(*) as n from ${names.ordering}.warden_events`)).rows[0]
        ?.n,
    );

    progress(`emmett: ${WRITERS} writers for ${ORDERING_WRITE_MS} ms while a consumer.reactor reads $all`);
    const emmettOrdering = (
      await emmett.request({ cmd: 'ordering', writeMs: ORDERING_WRITE_MS, catchUpMs: CATCH_UP_MS })
    ).ordering!;

    progress(
      `live projection: loading ${LIVE_ISSUES * EVENTS_PER_ISSUE} issue events (and ${PER_EVENT_ISSUES * EVENTS_PER_ISSUE} for the per-event rebuild) into PostgreSQL ${version} at ${redact(url)}`,
    );
    const liveDb = await connectPostgres({ url, schema: names.live, poolSize: WRITERS, idleTimeoutMs: 0 });
    opened.push(liveDb);
    await migrate(liveDb);
    const liveEvents = await loadIssueBacklog(liveDb, LIVE_ISSUES);
    const perEventDb = await connectPostgres({ url, schema: names.perEvent, poolSize: WRITERS });
    opened.push(perEventDb);
    await migrate(perEventDb);
    const perEventEvents = await loadIssueBacklog(perEventDb, PER_EVENT_ISSUES);
    progress('live projection catch-up (ProjectionEngine.start) and rebuild of the issue list');
    const live = await measureLive(
      { database: liveDb, store: postgresEventStore(liveDb), events: liveEvents, cpu: poolCpu(liveDb) },
      { database: perEventDb, store: postgresEventStore(perEventDb), events: perEventEvents },
    );
    const rebuild = {
      eventsPerSecond: live.rebuildEventsPerSecond,
      perEventEventsPerSecond: live.perEventEventsPerSecond,
      note: live.note,
    };

    const wo = wardenOrdering.result;
    const eo = emmettOrdering.result;
    const figures: Figures = {
      rawSingle: summarize(single.raw),
      wardenSingle: summarize(single.warden),
      emmettSingle: summarize(single.emmett),
      rawBatch: summarize(batch.raw),
      wardenBatch: summarize(batch.warden),
      emmettBatch: summarize(batch.emmett),
      rawRead: summarize(rawRead),
      wardenRead: summarize(wardenRead),
      wardenSubscribe,
      emmettRead: summarize(emmettRead),
      liveProjection: live.liveEventsPerSecond,
      rebuild: rebuild.eventsPerSecond,
      rebuildPerEvent: rebuild.perEventEventsPerSecond,
      appendVsRaw: pairedRatio(single.warden, single.raw),
      batchVsRaw: pairedRatio(batch.warden, batch.raw),
      appendVsEmmett: pairedRatio(single.warden, single.emmett),
      batchVsEmmett: pairedRatio(batch.warden, batch.emmett),
      readallVsRaw: pairedRatio(wardenRead, rawRead),
      wo,
      eo,
    };

    console.log('');
    printTable(tableRows(figures, SETTINGS));
    console.log('');
    console.log(
      'CPU time per event in the measured windows (client = this Node process, server = its pool backends):',
    );
    printCosts([
      ['raw single-row INSERT', figures.rawSingle],
      ['Warden append 1 event', figures.wardenSingle],
      ['emmett append 1 event', figures.emmettSingle],
      [`raw ${BATCH}-row INSERT`, figures.rawBatch],
      [`Warden append ${BATCH} events`, figures.wardenBatch],
      [`emmett append ${BATCH} events`, figures.emmettBatch],
      ['raw keyset SELECT', figures.rawRead],
      ['Warden readAll', figures.wardenRead],
      ['Warden subscribe catch-up', figures.wardenSubscribe],
      ['emmett consumer $all', figures.emmettRead],
      ['live projection catch-up (issue list)', once(live.events, live.liveSeconds, live.liveCpu)],
      ['rebuild (issue list)', once(live.events, live.rebuildSeconds, live.rebuildCpu)],
    ]);
    console.log('');
    const notes = [
      `appends carry an exact expected revision ('no_stream' / emmett's 0n on a stream's first append); each writer owns ${STREAMS_PER_WRITER} streams`,
      `per-round rates (events/s) single raw/warden/emmett: ${list(single.raw)} / ${list(single.warden)} / ${list(single.emmett)}`,
      `per-round rates (events/s) batch raw/warden/emmett: ${list(batch.raw)} / ${list(batch.warden)} / ${list(batch.emmett)}`,
      `per-round rates (events/s) read raw/warden: ${list(rawRead)} / ${list(wardenRead)}; emmett read ${Math.min(readMax, EMMETT_READ_MAX)} events per pass: ${list(emmettRead)}`,
      `while the readers ran, writers appended ${Math.round(wardenOrdering.written.perSecond)} events/s (Warden) and ${Math.round(emmettOrdering.written.perSecond)} events/s (emmett)`,
      `Warden's final readAll returned ${wo.final} events; its table holds ${orderingTableCount}${wo.final === orderingTableCount ? '' : ' (MISMATCH)'}`,
      "emmett's $all read: store.consumer() with a checkpoint-free reactor (1000 per batch, no pause between batches); its concurrent reader: the documented consumer.reactor (checkpoints in emt_processors), compared with all rows of emt_messages",
      rebuild.note,
    ];
    for (const note of notes) console.log(`note: ${note}`);
    console.log('');
    console.log(
      JSON.stringify(
        summaryJson(figures, SETTINGS, {
          wardenWritten: wardenOrdering.written,
          emmettWritten: emmettOrdering.written,
          orderingTableCount,
          rebuildNote: rebuild.note,
          defaultUrl: envUrl === undefined,
          backend: `PostgreSQL ${version}`,
          version,
        }),
      ),
    );
  } finally {
    await peer?.stop();
    await rawPool.end();
    for (const database of opened) {
      await dropSchema(database).catch(() => undefined);
      await database.close();
    }
    await admin.query(`drop schema if exists ${names.raw} cascade`);
    if (createdDatabases) {
      await admin.query(`drop database if exists ${names.emmettDb} with (force)`);
      await admin.query(`drop database if exists ${names.emmettOrderingDb} with (force)`);
    }
    await admin.end();
  }
}

function toSamples(map: Map<string, Throughput[]>): Samples {
  return { raw: map.get('raw')!, warden: map.get('warden')!, emmett: map.get('emmett')! };
}

function list(samples: readonly Throughput[]): string {
  return samples.map((s) => Math.round(s.perSecond)).join(' ');
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

function progress(message: string): void {
  console.log(`… ${message}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

/** A CPU window on this process and the backends of `database`'s pool (all WRITERS of them). */
function poolCpu(database: Database): () => Promise<CpuWindow> {
  return async () =>
    new CpuWindow(
      await backendPids(
        WRITERS,
        async () =>
          (await sql<{ pid: number }>`${sql.raw(BACKEND_PID_SQL)}`.execute(database.db)).rows[0]!.pid,
      ),
    );
}

/** One timed run as a throughput sample. */
function once(events: number, seconds: number, cpu: CpuCost): Throughput {
  return { events, seconds, perSecond: events / seconds, cpu };
}
