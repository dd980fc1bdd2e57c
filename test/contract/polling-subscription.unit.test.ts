import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  AppendListener,
  EventTypeAt,
  ReadAllOptions,
  RecordedEvent,
} from '../../src/eventstore/port.ts';
import { subscribeByPolling, TailPoller } from '../../src/eventstore/subscription.ts';

/** An in-memory log with readAll's contract (after, limit, types), counting the reads it answers. */
function memoryLog() {
  const events: RecordedEvent[] = [];
  const wakes = new Set<AppendListener>();
  let reads = 0;
  return {
    get reads() {
      return reads;
    },
    readAll: async (options: ReadAllOptions) => {
      reads++;
      return events
        .filter((e) => e.position > (options.after ?? 0n))
        .filter((e) => !options.types || options.types.includes(e.type))
        .slice(0, options.limit ?? 1000);
    },
    onAppend: (wake: AppendListener) => {
      wakes.add(wake);
      return () => wakes.delete(wake);
    },
    append(type: string) {
      const position = BigInt(events.length + 1);
      events.push({
        id: `e${position}`,
        type,
        data: {},
        metadata: { tenantId: null, actorId: null, correlationId: 'c', causationId: null, requestId: null },
        streamId: `s-${position}`,
        revision: 0,
        position,
        recordedAt: new Date(0),
      } as unknown as RecordedEvent);
      for (const wake of wakes) wake([type], position);
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('polling subscription', () => {
  it('wakes for an append of a type it follows and sleeps through appends of other types', async () => {
    const log = memoryLog();
    const controller = new AbortController();
    let caughtUp = false;
    const seen: string[] = [];
    const subscription = subscribeByPolling(
      log.readAll,
      { types: ['Wanted'], signal: controller.signal, onCaughtUp: () => (caughtUp = true) },
      // A poll far beyond the test: only a wake makes it read again.
      { pollIntervalMs: 60_000, onAppend: log.onAppend },
    );
    const consuming = (async () => {
      for await (const event of subscription) seen.push(event.type);
    })();
    while (!caughtUp) await tick();
    const readsWhenIdle = log.reads;

    for (let i = 0; i < 50; i++) log.append('Other');
    await tick();
    expect(log.reads).toBe(readsWhenIdle);

    log.append('Wanted');
    while (seen.length === 0) await tick();
    expect(seen).toEqual(['Wanted']);
    expect(log.reads).toBeGreaterThan(readsWhenIdle);

    controller.abort();
    await consuming;
  });

  it('wakes for every append when it follows every type', async () => {
    const log = memoryLog();
    const controller = new AbortController();
    const seen: string[] = [];
    const subscription = subscribeByPolling(
      log.readAll,
      { signal: controller.signal },
      { pollIntervalMs: 60_000, onAppend: log.onAppend },
    );
    const consuming = (async () => {
      for await (const event of subscription) seen.push(event.type);
    })();
    await tick();
    log.append('Other');
    log.append('Wanted');
    while (seen.length < 2) await tick();
    expect(seen).toEqual(['Other', 'Wanted']);
    controller.abort();
    await consuming;
  });
});

/**
 * A log in memory whose reads answer as of one moment, after a delay each call chooses: the moment
 * is the call's (as a query whose snapshot was taken at once) or the answer's (one that waited for a
 * connection first). A read made before an append does not see it, even if it answers after, as
 * with a PostgreSQL snapshot. `append` is another process's: it tells no listener, so only the tail
 * poller can report it.
 */
function laggingLog(delayOf: () => number = () => 0) {
  const events: RecordedEvent[] = [];
  const counts = { reads: 0, polls: 0, heads: 0 };
  const later = <T>(read: () => T) => {
    const delay = delayOf();
    // Odd delays read at the end, even ones at the start.
    const early = delay % 2 === 0 ? read() : undefined;
    return new Promise<T>((resolve) => setTimeout(() => resolve(early ?? read()), delay));
  };
  return {
    counts,
    events,
    readAll: (options: ReadAllOptions) => {
      counts.reads++;
      return later(() =>
        events
          .filter((e) => e.position > (options.after ?? 0n))
          .filter((e) => !options.types || options.types.includes(e.type))
          .slice(0, options.limit ?? 1000),
      );
    },
    store: {
      headPosition: () => {
        counts.heads++;
        return later(() => events.at(-1)?.position ?? 0n);
      },
      readPositions: ({ after, limit }: { after: bigint; limit: number }) => {
        counts.polls++;
        return later(() =>
          events
            .filter((e) => e.position > after)
            .slice(0, limit)
            .map(({ position, type }): EventTypeAt => ({ position, type })),
        );
      },
    },
    append(type: string) {
      // Gaps between positions, as PostgreSQL's (transaction id << 20) ones have.
      const position = BigInt(events.length + 1) << 20n;
      events.push({
        id: `e${position}`,
        type,
        streamId: `s-${position}`,
        position,
      } as unknown as RecordedEvent);
    },
  };
}

/** Consumes a subscription in the background, keeping the types it receives. */
function consume(subscription: AsyncGenerator<RecordedEvent>) {
  const seen: RecordedEvent[] = [];
  const done = (async () => {
    for await (const event of subscription) seen.push(event);
  })();
  return { seen, done };
}

async function until(what: string, check: () => boolean): Promise<void> {
  // A liveness bound, not a speed assertion: a lost wake-up leaves the subscription asleep for good.
  for (let i = 0; !check(); i++) {
    if (i > 250) throw new Error(`never: ${what}`);
    await tick();
  }
}

describe('tail poller shared by the subscriptions of a store', () => {
  it('lets idle subscriptions sleep on one poll, and wakes only those whose types another process appended', async () => {
    const log = laggingLog();
    const tail = new TailPoller(log.store, 5);
    const controller = new AbortController();
    const follows = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
    const caughtUp = new Set<string>();
    const consumers = follows.map((type) =>
      consume(
        subscribeByPolling(
          log.readAll,
          { types: [type], signal: controller.signal, onCaughtUp: () => caughtUp.add(type) },
          // The subscriptions' own interval is never used once a tail poller is there.
          { pollIntervalMs: 5, tail },
        ),
      ),
    );
    await until('all caught up', () => caughtUp.size === follows.length);
    expect(tail.listeners).toBe(follows.length);
    // 8 subscriptions idle through many poll intervals: polls go on, pages are not read.
    const idle = { ...log.counts };
    while (log.counts.polls < idle.polls + 20) await tick();
    expect(log.counts.reads).toBe(idle.reads);
    // One head read for all of them.
    expect(log.counts.heads).toBe(1);

    log.append('Unfollowed');
    const polled = log.counts.polls;
    await until('the unfollowed append polled', () => log.counts.polls > polled + 1);
    expect(log.counts.reads).toBe(idle.reads);

    log.append('C');
    await until('C delivered', () => consumers[2]!.seen.length === 1);
    expect(log.counts.reads).toBe(idle.reads + 1);
    expect(consumers.map((c) => c.seen.length)).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);

    controller.abort();
    await Promise.all(consumers.map((c) => c.done));
    // The last subscription gone, the poller stops.
    expect(tail.listeners).toBe(0);
    const stopped = log.counts.polls;
    await tick();
    await tick();
    expect(log.counts.polls).toBe(stopped);
  });

  it('restarts from the head when a subscription comes after the last one left', async () => {
    const log = laggingLog();
    const tail = new TailPoller(log.store, 2);
    const first = new AbortController();
    const a = consume(subscribeByPolling(log.readAll, { signal: first.signal }, { pollIntervalMs: 2, tail }));
    log.append('X');
    await until('X delivered', () => a.seen.length === 1);
    first.abort();
    await a.done;
    log.append('Y');
    const second = new AbortController();
    const b = consume(
      subscribeByPolling(
        log.readAll,
        { after: 1n << 20n, signal: second.signal },
        { pollIntervalMs: 2, tail },
      ),
    );
    await until('Y delivered', () => b.seen.length === 1);
    log.append('Z');
    await until('Z delivered', () => b.seen.length === 2);
    expect(b.seen.map((e) => e.type)).toEqual(['Y', 'Z']);
    second.abort();
    await b.done;
  });

  it('never loses an append of another process, whatever the order reads, polls and appends land in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('A', 'B', 'C'), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.subarray(['A', 'B', 'C'], { minLength: 1 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 3 }),
        async (appends, delays, filters, page) => {
          let turn = 0;
          const log = laggingLog(() => delays[turn++ % delays.length]!);
          const tail = new TailPoller(log.store, 1, page);
          const controller = new AbortController();
          const consumers = filters.map((types) =>
            consume(
              subscribeByPolling(
                log.readAll,
                { types, signal: controller.signal, batchSize: 2 },
                { pollIntervalMs: 1, tail },
              ),
            ),
          );
          for (const [i, type] of appends.entries()) {
            log.append(type);
            if (delays[i % delays.length]! > 1)
              await new Promise((r) => setTimeout(r, delays[i % delays.length]));
          }
          for (const [i, types] of filters.entries()) {
            const expected = log.events.filter((e) => types.includes(e.type)).map((e) => e.position);
            await until(
              `subscription ${i} has all of ${types.join(',')}`,
              () => consumers[i]!.seen.length >= expected.length,
            );
            expect(consumers[i]!.seen.map((e) => e.position)).toEqual(expected);
          }
          controller.abort();
          await Promise.all(consumers.map((c) => c.done));
          expect(tail.listeners).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
