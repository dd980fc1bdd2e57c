import type { EventStore } from '../../src/eventstore/port.ts';
import { runConcurrent, type Step, sleep, type Throughput } from './measure.ts';
import { DeliveryLog, type OrderingResult } from './ordering.ts';
import { benchEvent, STREAMS_PER_WRITER, streamId } from './payload.ts';

/**
 * Appends `batch` events per call, each writer to its own streams with the exact expected revision
 * (`no_stream` for a stream's first append), as a command handler does after loading the stream.
 */
export function wardenAppender(store: EventStore, tag: string, batch: number): Step {
  const revisions = new Map<string, number>();
  const counters = new Map<number, number>();
  return async (worker) => {
    const i = counters.get(worker) ?? 0;
    counters.set(worker, i + 1);
    const stream = streamId(tag, worker, i % STREAMS_PER_WRITER);
    const events = Array.from({ length: batch }, (_, k) => benchEvent(worker, i * batch + k));
    const revision = revisions.get(stream);
    const result = await store.append(stream, events, { expected: revision ?? 'no_stream' });
    revisions.set(stream, result.revision);
    return batch;
  };
}

/** Pages through the global order with `readAll` (after the last position seen) until `max` events. */
export async function wardenReadAll(store: EventStore, max: number, pageSize = 1000): Promise<number> {
  let after = 0n;
  let read = 0;
  while (read < max) {
    const page = await store.readAll({ after, limit: pageSize });
    if (page.length === 0) break;
    read += page.length;
    after = page[page.length - 1]!.position;
  }
  return read;
}

/** Catches up from the start through `subscribe` (what projections use) until `max` events. */
export async function wardenSubscribeCatchUp(
  store: EventStore,
  max: number,
  batchSize = 1000,
): Promise<number> {
  const controller = new AbortController();
  let read = 0;
  for await (const _event of store.subscribe({
    batchSize,
    signal: controller.signal,
    onCaughtUp: () => controller.abort(),
  })) {
    read++;
    if (read >= max) controller.abort();
  }
  return read;
}

export interface ConcurrentReadOptions {
  writers: number;
  writeMs: number;
  /** How long the reader may take to catch up once the writers stop. */
  catchUpMs: number;
  pageSize?: number;
}

/**
 * `writers` loops append single events while one reader keeps a checkpoint and reads after it with
 * `readAll`, until the writers have stopped and it has reached the newest committed event. Its
 * deliveries are then compared with a final `readAll` from the start.
 */
export async function wardenConcurrentRead(
  store: EventStore,
  newestPosition: () => Promise<bigint>,
  options: ConcurrentReadOptions,
): Promise<{ result: OrderingResult; written: Throughput }> {
  const pageSize = options.pageSize ?? 1000;
  const log = new DeliveryLog();
  let target: bigint | undefined;
  let deadline = Number.POSITIVE_INFINITY;
  const reader = (async () => {
    let after = 0n;
    for (;;) {
      const page = await store.readAll({ after, limit: pageSize });
      for (const event of page) {
        log.record(event.id, event.position);
        after = event.position;
      }
      if (target !== undefined && after >= target) return true;
      if (Date.now() > deadline) return false;
      if (page.length < pageSize) await sleep(5);
    }
  })();
  const written = await runConcurrent(options.writers, wardenAppender(store, 'Ordered', 1), {
    warmupMs: 0,
    windowMs: options.writeMs,
  });
  target = await newestPosition();
  deadline = Date.now() + options.catchUpMs;
  const caughtUp = await reader;
  const finalIds: string[] = [];
  let after = 0n;
  for (;;) {
    const page = await store.readAll({ after, limit: pageSize });
    if (page.length === 0) break;
    for (const event of page) finalIds.push(event.id);
    after = page[page.length - 1]!.position;
  }
  return { result: log.compare(finalIds, caughtUp), written };
}
