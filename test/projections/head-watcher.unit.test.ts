import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AppendListener, EventStore, EventTypeAt } from '../../src/eventstore/port.ts';
import { HeadWatcher } from '../../src/projections/engine/head-watcher.ts';
import { silentLogger } from '../../src/projections/engine/logger.ts';

/**
 * A log in memory with gaps between positions, as PostgreSQL's (transaction id << 20) ones have.
 * `hideFrom` plays a transaction still running elsewhere: readers see no event at or after it.
 */
function memoryLog() {
  const events: EventTypeAt[] = [];
  const listeners = new Set<AppendListener>();
  let next = 7n;
  const visible = () => events.filter((e) => log.hideFrom === undefined || e.position < log.hideFrom);
  let reads = 0;
  const store = {
    headPosition: async () => visible().at(-1)?.position ?? 0n,
    readPositions: async ({ after, limit }: { after: bigint; limit: number }) => {
      reads++;
      return visible()
        .filter((e) => e.position > after)
        .slice(0, limit);
    },
    onAppend: (listener: AppendListener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  } as unknown as EventStore;
  const log = {
    store,
    events,
    hideFrom: undefined as bigint | undefined,
    reads: () => reads,
    /** Appends as this process does (its listeners hear it), or as another process does (`heard` false). */
    append(types: readonly string[], heard = true) {
      next += 1n << 20n;
      for (const [i, type] of types.entries()) events.push({ position: next + BigInt(i), type });
      if (heard) for (const listener of listeners) listener([...new Set(types)], events.at(-1)!.position);
    },
  };
  return log;
}

/** A watcher of `log` (an hour between polls), running and polled once, until `stop()`. */
async function watching(log: ReturnType<typeof memoryLog>) {
  const watcher = new HeadWatcher(log.store, 3_600_000, silentLogger);
  const controller = new AbortController();
  const loop = watcher.run(controller.signal);
  await watcher.poll();
  const stop = async () => {
    controller.abort();
    await loop;
  };
  return { watcher, stop, before: watcher.value };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to 10 s) until the watcher has read the tail `n` more times. */
async function readsMore(log: ReturnType<typeof memoryLog>, n: number) {
  const target = log.reads() + n;
  const deadline = Date.now() + 10_000;
  while (log.reads() < target && Date.now() < deadline) await pause(10);
  expect(log.reads()).toBeGreaterThanOrEqual(target);
}

const typesIn = (events: readonly EventTypeAt[], after: bigint, upTo: bigint) =>
  new Set(events.filter((e) => e.position > after && e.position <= upTo).map((e) => e.type));

describe('HeadWatcher.typesBetween', () => {
  it('knows nothing before its first poll, then the types of every event after it', async () => {
    const log = memoryLog();
    log.append(['Old']);
    const watcher = new HeadWatcher(log.store, 1000, silentLogger);
    expect(watcher.typesBetween(0n, 0n)).toBeUndefined();
    const first = await watcher.poll();
    expect(first).toBe(log.events[0]!.position);
    // The log before the first poll was never read.
    expect(watcher.typesBetween(0n, first)).toBeUndefined();
    log.append(['A', 'B']);
    log.append(['C']);
    // Not polled yet: beyond what it has read.
    expect(watcher.typesBetween(first, log.events.at(-1)!.position)).toBeUndefined();
    const head = await watcher.poll();
    expect(head).toBe(log.events.at(-1)!.position);
    expect(watcher.typesBetween(first, head)).toEqual(new Set(['A', 'B', 'C']));
    expect(watcher.typesBetween(log.events[2]!.position, head)).toEqual(new Set(['C']));
    expect(watcher.typesBetween(head, head)).toEqual(new Set());
  });

  it('property: any answer is exactly the types of the events in the range, across polls, pages and a small window', () => {
    const step = fc.oneof(
      fc.record({ append: fc.array(fc.constantFrom('A', 'B', 'C', 'D'), { minLength: 1, maxLength: 4 }) }),
      fc.constant({ poll: true as const }),
    );
    return fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 10 }),
        async (steps, windowSize, page, ranges) => {
          const log = memoryLog();
          const watcher = new HeadWatcher(log.store, 1000, silentLogger, windowSize, page);
          await watcher.poll();
          for (const s of steps) {
            if ('append' in s) log.append(s.append);
            else await watcher.poll();
          }
          const positions = [0n, ...log.events.map((e) => e.position)];
          for (const [a, b] of ranges) {
            const after = positions[a % positions.length]!;
            const upTo = positions[b % positions.length]!;
            if (upTo < after) continue;
            const answer = watcher.typesBetween(after, upTo);
            if (answer) expect(answer).toEqual(typesIn(log.events, after, upTo));
          }
          // The newest events are always known once polled up to the head.
          while ((await watcher.poll()) < (log.events.at(-1)?.position ?? 0n));
          const last = log.events.at(-1)?.position ?? 0n;
          expect(watcher.typesBetween(last, last)).toEqual(new Set());
        },
      ),
      { numRuns: 300 },
    );
  });

  it("wakes on the store's own appends, without waiting for its poll", async () => {
    const log = memoryLog();
    const { watcher, stop, before } = await watching(log);
    log.append(['A']);
    await watcher.waitBeyond(before, AbortSignal.timeout(5000));
    expect(watcher.value).toBe(log.events.at(-1)!.position);
    await stop();
  });

  it('keeps polling for its own append while a transaction elsewhere hides it, and sees it once it shows', async () => {
    const log = memoryLog();
    const { watcher, stop, before } = await watching(log);
    log.hideFrom = 1n;
    log.append(['A']);
    // The wake-up's poll finds nothing visible, and so do the polls after it, which keep coming.
    await readsMore(log, 3);
    expect(watcher.value).toBe(before);
    log.hideFrom = undefined;
    // Without them, the event would wait for the next poll: an hour.
    await watcher.waitBeyond(before, AbortSignal.timeout(5000));
    expect(watcher.value).toBe(log.events.at(-1)!.position);
    await stop();
  });

  it('chase: a wait for a position appended elsewhere polls until it shows, and only for as long as asked', async () => {
    const log = memoryLog();
    const { watcher, stop, before } = await watching(log);
    log.hideFrom = 1n;
    log.append(['A'], false);
    const wanted = log.events.at(-1)!.position;
    watcher.chase(wanted, 10_000);
    await readsMore(log, 2);
    log.hideFrom = undefined;
    await watcher.waitBeyond(before, AbortSignal.timeout(5000));
    expect(watcher.value).toBe(wanted);

    // A chase that ends unseen leaves the watcher at its interval: no more reads.
    log.hideFrom = 1n;
    log.append(['B'], false);
    watcher.chase(log.events.at(-1)!.position, 50);
    await pause(1000);
    const reads = log.reads();
    await pause(600);
    expect(log.reads()).toBe(reads);
    expect(watcher.value).toBe(wanted);
    await stop();
  });
});
