import { describe, expect, it } from 'vitest';
import type { ReadAllOptions, RecordedEvent } from '../../src/eventstore/port.ts';
import { subscribeByPolling } from '../../src/eventstore/subscription.ts';

/** An in-memory log with readAll's contract (after, limit, types), counting the reads it answers. */
function memoryLog() {
  const events: RecordedEvent[] = [];
  const wakes = new Set<(types: readonly string[]) => void>();
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
    onAppend: (wake: (types: readonly string[]) => void) => {
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
      for (const wake of wakes) wake([type]);
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
