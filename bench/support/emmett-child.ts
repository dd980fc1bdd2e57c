/**
 * The peer event store's share of the benchmark, run in its own process: emmett's connection layer
 * (dumbo) replaces node-postgres' global type parsers (int8 → BigInt, json with a BigInt reviver),
 * which would otherwise change how Warden's pool parses rows in the same process.
 *
 * Started by bench/eventstore.ts; takes one command at a time over IPC so the parent can interleave
 * emmett's windows with Warden's and the raw baseline's.
 */
import { type Event, MessageProcessor, reactor } from '@event-driven-io/emmett';
import { getPostgreSQLEventStore, type PostgresEventStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import { BACKEND_PID_SQL, backendPids, CpuWindow } from './cpu.ts';
import { runConcurrent, type Step, sleep, type Throughput, timed } from './measure.ts';
import { DeliveryLog, type OrderingResult } from './ordering.ts';
import { benchEvent, STREAMS_PER_WRITER, streamId } from './payload.ts';

export type EmmettCommand =
  | { cmd: 'init'; url: string; orderingUrl: string; writers: number }
  | { cmd: 'append'; tag: string; batch: number; warmupMs: number; windowMs: number }
  | { cmd: 'readAll'; max: number }
  | { cmd: 'ordering'; writeMs: number; catchUpMs: number }
  | { cmd: 'close' };

export type EmmettAnswer =
  | { ok: true; throughput?: Throughput; ordering?: { result: OrderingResult; written: Throughput } }
  | { ok: false; error: string };

type BenchEmmettEvent = Event<string, Record<string, unknown>, Record<string, unknown>>;

/** Same events, same streams, same expected-version discipline as Warden's appender. */
function emmettAppender(store: PostgresEventStore, tag: string, batch: number): Step {
  const versions = new Map<string, bigint>();
  const counters = new Map<number, number>();
  return async (worker) => {
    const i = counters.get(worker) ?? 0;
    counters.set(worker, i + 1);
    const stream = streamId(tag, worker, i % STREAMS_PER_WRITER);
    const events: BenchEmmettEvent[] = Array.from({ length: batch }, (_, k) => {
      const e = benchEvent(worker, i * batch + k);
      // emmett takes the event id from metadata.messageId (it generates one when absent).
      return { type: e.type, data: e.data, metadata: { ...e.metadata, messageId: e.id } };
    });
    const result = await store.appendToStream<BenchEmmettEvent>(stream, events, {
      // 0n is emmett's "stream does not exist yet": it inserts the stream row or fails.
      expectedStreamVersion: versions.get(stream) ?? 0n,
    });
    versions.set(stream, result.nextExpectedStreamVersion);
    return batch;
  };
}

/**
 * Reads $all in global order through emmett's consumer (the API its docs give for reading all
 * messages), with a checkpoint-free reactor so the figure is the read path alone.
 */
async function emmettReadAll(store: PostgresEventStore, max: number): Promise<number> {
  let read = 0;
  const counter = reactor<BenchEmmettEvent>({
    processorId: 'bench-read-all',
    eachMessage: () => {
      read++;
      return read >= max ? MessageProcessor.result.stop() : undefined;
    },
  });
  const consumer = store.consumer<BenchEmmettEvent>({
    processors: [counter as never],
    stopWhen: { noMessagesLeft: true },
    pulling: { batchSize: 1000, pullingFrequencyInMs: 0 },
  });
  await consumer.start();
  await consumer.stop();
  return read;
}

/**
 * Writers append while a documented `consumer.reactor` (checkpointed in emt_processors) reads $all
 * in global order; afterwards its deliveries are compared with everything in emt_messages.
 */
async function emmettConcurrentRead(
  url: string,
  writers: number,
  writeMs: number,
  catchUpMs: number,
): Promise<{ result: OrderingResult; written: Throughput }> {
  const pool = new pg.Pool({ connectionString: url, max: writers, idleTimeoutMillis: 0 });
  const store = getPostgreSQLEventStore(url, { connectionOptions: { pool } });
  try {
    await store.schema.migrate();
    const log = new DeliveryLog();
    let lastDelivery = Date.now();
    const consumer = store.consumer<BenchEmmettEvent>({ pulling: { batchSize: 1000 } });
    consumer.reactor<BenchEmmettEvent>({
      processorId: 'bench-ordered-reader',
      eachMessage: (message) => {
        log.record(message.metadata.messageId, message.metadata.globalPosition);
        lastDelivery = Date.now();
      },
    });
    const running = consumer.start();
    const written = await runConcurrent(writers, emmettAppender(store, 'Ordered', 1), {
      warmupMs: 0,
      windowMs: writeMs,
    });
    const { rows } = await pool.query<{ message_id: string }>(
      'select message_id from emt_messages order by global_position',
    );
    const finalIds = rows.map((r) => r.message_id);
    // Caught up: everything delivered, or nothing new for 3 s after the writers stopped (the puller
    // backs off to 1 s at most). A reader that skipped an event never receives it later.
    const stoppedAt = Date.now();
    const deadline = stoppedAt + catchUpMs;
    let caughtUp = false;
    while (Date.now() < deadline) {
      if (log.delivered >= finalIds.length || Date.now() - Math.max(lastDelivery, stoppedAt) > 3000) {
        caughtUp = true;
        break;
      }
      await sleep(100);
    }
    await consumer.stop();
    await running;
    return { result: log.compare(finalIds, caughtUp), written };
  } finally {
    await store.close();
    await pool.end();
  }
}

interface Session {
  pool: pg.Pool;
  store: PostgresEventStore;
  orderingUrl: string;
  writers: number;
  appenders: Map<string, Step>;
}

let session: Session | undefined;

async function cpuWindow(s: Session): Promise<CpuWindow> {
  const pids = await backendPids(s.writers, async () => {
    const { rows } = await s.pool.query<{ pid: number }>(BACKEND_PID_SQL);
    return rows[0]!.pid;
  });
  return new CpuWindow(pids);
}

async function handle(command: EmmettCommand): Promise<EmmettAnswer> {
  if (command.cmd === 'init') {
    const pool = new pg.Pool({ connectionString: command.url, max: command.writers, idleTimeoutMillis: 0 });
    const store = getPostgreSQLEventStore(command.url, { connectionOptions: { pool } });
    await store.schema.migrate();
    session = {
      pool,
      store,
      orderingUrl: command.orderingUrl,
      writers: command.writers,
      appenders: new Map(),
    };
    return { ok: true };
  }
  const s = session;
  if (!s) throw new Error('init first');
  switch (command.cmd) {
    case 'append': {
      const key = `${command.tag}/${command.batch}`;
      let step = s.appenders.get(key);
      if (!step) {
        step = emmettAppender(s.store, command.tag, command.batch);
        s.appenders.set(key, step);
      }
      const cpu = await cpuWindow(s);
      const throughput = await runConcurrent(s.writers, step, {
        warmupMs: command.warmupMs,
        windowMs: command.windowMs,
        cpu,
      });
      return { ok: true, throughput };
    }
    case 'readAll': {
      const cpu = await cpuWindow(s);
      return { ok: true, throughput: await timed(() => emmettReadAll(s.store, command.max), cpu) };
    }
    case 'ordering':
      return {
        ok: true,
        ordering: await emmettConcurrentRead(s.orderingUrl, s.writers, command.writeMs, command.catchUpMs),
      };
    case 'close':
      await s.store.close();
      await s.pool.end();
      session = undefined;
      return { ok: true };
  }
}

process.on('message', (command: EmmettCommand) => {
  handle(command).then(
    (answer) => process.send?.(answer),
    (error: unknown) =>
      process.send?.({
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      } satisfies EmmettAnswer),
  );
});
