import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AppendListener, EventStore, EventTypeAt } from '../../src/eventstore/port.ts';
import { HeadWatcher } from '../../src/projections/engine/head-watcher.ts';
import { silentLogger } from '../../src/projections/engine/logger.ts';

/** A log in memory with gaps between positions, as PostgreSQL's (transaction id << 20) ones have. */
function memoryLog() {
  const events: EventTypeAt[] = [];
  const listeners = new Set<AppendListener>();
  let next = 7n;
  const store = {
    headPosition: async () => events.at(-1)?.position ?? 0n,
    readPositions: async ({ after, limit }: { after: bigint; limit: number }) =>
      events.filter((e) => e.position > after).slice(0, limit),
    onAppend: (listener: AppendListener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  } as unknown as EventStore;
  return {
    store,
    events,
    append(types: readonly string[]) {
      next += 1n << 20n;
      for (const [i, type] of types.entries()) events.push({ position: next + BigInt(i), type });
      for (const listener of listeners) listener([...new Set(types)]);
    },
  };
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
    const watcher = new HeadWatcher(log.store, 3_600_000, silentLogger);
    const stop = new AbortController();
    const running = watcher.run(stop.signal);
    await watcher.poll();
    const before = watcher.value;
    log.append(['A']);
    await watcher.waitBeyond(before, AbortSignal.timeout(5000));
    expect(watcher.value).toBe(log.events.at(-1)!.position);
    stop.abort();
    await running;
  });
});
