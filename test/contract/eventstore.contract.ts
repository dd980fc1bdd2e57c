import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EventStore,
  InvalidAppendError,
  InvalidReadError,
  type NewEvent,
  type RecordedEvent,
  WrongExpectedRevisionError,
} from '../../src/eventstore/port.ts';

export interface StoreUnderTest {
  store: EventStore;
  /** A second store instance on the same data, as a restarted process would have. */
  reopen(): Promise<EventStore>;
  dispose(): Promise<void>;
}

const ev = (type = 'Thing', data: unknown = { n: 1 }, metadata: NewEvent['metadata'] = {}): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata,
});
const stream = (prefix = 'test.Thing') => `${prefix}-${randomUUID()}`;

async function collect(iterable: AsyncIterable<RecordedEvent>, count: number, signal: AbortController) {
  const seen: RecordedEvent[] = [];
  for await (const event of iterable) {
    seen.push(event);
    if (seen.length >= count) signal.abort();
  }
  return seen;
}

/** The one contract every event store adapter must pass. */
export function eventStoreContract(name: string, open: () => Promise<StoreUnderTest>) {
  describe(`event store contract: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: EventStore;
    // On a shared server an event becomes visible to readers once every older transaction on the
    // server has ended (by design). Tests that read "everything after the head" first wait until
    // their own earlier appends are visible, so another session's transaction cannot skew them.
    let lastWritten = 0n;
    const settle = async () => {
      const until = Date.now() + 30_000;
      while ((await store.headPosition()) < lastWritten) {
        if (Date.now() > until) throw new Error('appended events did not become visible in 30 s');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    beforeAll(async () => {
      sut = await open();
      const raw = sut.store;
      store = new Proxy(raw, {
        get(target, key, receiver) {
          if (key !== 'append') return Reflect.get(target, key, receiver);
          return async (...args: Parameters<EventStore['append']>) => {
            const result = await target.append(...args);
            if (result.position > lastWritten) lastWritten = result.position;
            return result;
          };
        },
      });
    });
    afterAll(async () => {
      await sut.dispose();
    });

    describe('expected revision', () => {
      it('no_stream succeeds on a new stream and fails once it exists, carrying the actual revision', async () => {
        const s = stream();
        expect(await store.append(s, [ev(), ev()], { expected: 'no_stream' })).toMatchObject({ revision: 1 });
        const error = await store.append(s, [ev()], { expected: 'no_stream' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(WrongExpectedRevisionError);
        expect(error).toMatchObject({ code: 'ERR_WRONG_EXPECTED_REVISION', streamId: s, actual: 1 });
      });

      it('exists fails on a missing stream and succeeds on an existing one', async () => {
        const s = stream();
        const error = await store.append(s, [ev()], { expected: 'exists' }).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'ERR_WRONG_EXPECTED_REVISION', actual: 'no_stream' });
        await store.append(s, [ev()]);
        expect(await store.append(s, [ev()], { expected: 'exists' })).toMatchObject({ revision: 1 });
      });

      it('an exact revision succeeds only when it is the last revision', async () => {
        const s = stream();
        await store.append(s, [ev(), ev(), ev()]);
        const stale = await store.append(s, [ev()], { expected: 1 }).catch((e: unknown) => e);
        expect(stale).toMatchObject({ code: 'ERR_WRONG_EXPECTED_REVISION', expected: 1, actual: 2 });
        expect(await store.append(s, [ev()], { expected: 2 })).toMatchObject({ revision: 3 });
        const missing = await store.append(stream(), [ev()], { expected: 0 }).catch((e: unknown) => e);
        expect(missing).toMatchObject({ actual: 'no_stream' });
      });

      it('any appends whatever the stream holds', async () => {
        const s = stream();
        expect((await store.append(s, [ev()], { expected: 'any' })).revision).toBe(0);
        expect((await store.append(s, [ev(), ev()])).revision).toBe(2);
      });

      it('a failed append appends nothing', async () => {
        const s = stream();
        await store.append(s, [ev()]);
        await store.append(s, [ev(), ev()], { expected: 5 }).catch(() => undefined);
        expect(await store.readStream(s)).toHaveLength(1);
      });

      it('of two racing appends at one revision exactly one wins', async () => {
        const s = stream();
        await store.append(s, [ev()]);
        const results = await Promise.allSettled(
          Array.from({ length: 6 }, () => store.append(s, [ev()], { expected: 0 })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(WrongExpectedRevisionError);
        }
        expect(await store.readStream(s)).toHaveLength(2);
      });
    });

    describe('idempotency', () => {
      it('a retried append with the same event ids does not duplicate and answers as the original', async () => {
        const s = stream();
        const batch = [ev(), ev()];
        const first = await store.append(s, batch, { expected: 'no_stream' });
        const again = await store.append(s, batch, { expected: 'no_stream' });
        const anyAgain = await store.append(s, batch);
        expect(again).toEqual(first);
        expect(anyAgain).toEqual(first);
        expect(await store.readStream(s)).toHaveLength(2);
      });

      it('concurrent retries of one append store it once', async () => {
        const s = stream();
        const batch = [ev(), ev(), ev()];
        const results = await Promise.all(Array.from({ length: 5 }, () => store.append(s, batch)));
        expect(new Set(results.map((r) => r.position)).size).toBe(1);
        expect(await store.readStream(s)).toHaveLength(3);
      });

      it('reusing an event id in another stream is refused', async () => {
        const e = ev();
        await store.append(stream(), [e]);
        await expect(store.append(stream(), [e])).rejects.toBeInstanceOf(InvalidAppendError);
      });
    });

    describe('reading', () => {
      it('reads a stream forwards and backwards from a revision, with limits', async () => {
        const s = stream();
        await store.append(
          s,
          Array.from({ length: 10 }, (_, i) => ev('Counted', { i })),
        );
        const all = await store.readStream(s);
        expect(all.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(all.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect((await store.readStream(s, { from: 4, limit: 3 })).map((e) => e.revision)).toEqual([4, 5, 6]);
        const back = await store.readStream(s, { direction: 'backwards', from: 6, limit: 3 });
        expect(back.map((e) => e.revision)).toEqual([6, 5, 4]);
        const tail = await store.readStream(s, { direction: 'backwards', limit: 2 });
        expect(tail.map((e) => e.revision)).toEqual([9, 8]);
        expect(await store.readStream(stream())).toEqual([]);
        // "start" and "end" name the stream's ends: forwards from the end reads nothing, backwards
        // from the start reads its first event.
        const revisions = async (options: Parameters<EventStore['readStream']>[1]) =>
          (await store.readStream(s, { limit: 3, ...options })).map((e) => e.revision);
        expect(await revisions({ from: 'start' })).toEqual([0, 1, 2]);
        expect(await revisions({ from: 'end' })).toEqual([]);
        expect(await revisions({ from: 'end', direction: 'backwards' })).toEqual([9, 8, 7]);
        expect(await revisions({ from: 'start', direction: 'backwards' })).toEqual([0]);
      });

      it('refuses a malformed read with a typed error naming the field (never an append’s)', async () => {
        const cases: [() => Promise<unknown>, string][] = [
          [() => store.readStream(''), 'streamId'],
          [() => store.readStream('$all'), 'streamId'],
          [() => store.readStream(stream(), { from: -1 }), 'from'],
          [() => store.readStream(stream(), { from: 1.5 }), 'from'],
          [() => store.readStream(stream(), { from: 'middle' as never }), 'from'],
          [() => store.readStream(stream(), { limit: 0 }), 'limit'],
          [() => store.readAll({ limit: 10_001 }), 'limit'],
          [() => store.readPositions({ after: 0n, limit: -1 }), 'limit'],
        ];
        for (const [attempt, field] of cases) {
          const error = await attempt().catch((e: unknown) => e);
          expect(error, field).toBeInstanceOf(InvalidReadError);
          expect(error, field).toMatchObject({ code: 'ERR_INVALID_READ', field });
        }
      });

      it('reads all from a position, in increasing position, filtered by type', async () => {
        await settle();
        const start = await store.headPosition();
        const a = stream();
        const b = stream();
        await store.append(a, [ev('Alpha'), ev('Beta')]);
        await store.append(b, [ev('Alpha'), ev('Gamma')]);
        await settle();
        const events = await store.readAll({ after: start });
        expect(events.map((e) => e.type)).toEqual(['Alpha', 'Beta', 'Alpha', 'Gamma']);
        for (let i = 1; i < events.length; i++)
          expect(events[i]!.position > events[i - 1]!.position).toBe(true);
        const alphas = await store.readAll({ after: start, types: ['Alpha'] });
        expect(alphas.map((e) => e.streamId)).toEqual([a, b]);
        const page = await store.readAll({ after: events[1]!.position, limit: 1 });
        expect(page.map((e) => e.id)).toEqual([events[2]!.id]);
        expect(await store.headPosition()).toBe(events[3]!.position);
        expect(await store.countAfter(events[1]!.position)).toBe(2);
      });

      it("reads the tail's positions and types without data, and tells listeners of its own appends", async () => {
        await settle();
        const start = await store.headPosition();
        const heard: string[][] = [];
        const unhear = store.onAppend((types) => heard.push([...types]));
        await store.append(stream(), [ev('Alpha'), ev('Beta'), ev('Alpha')]);
        await store.append(stream(), [ev('Gamma')]);
        unhear();
        await store.append(stream(), [ev('Delta')]);
        expect(heard).toEqual([['Alpha', 'Beta'], ['Gamma']]);
        await settle();
        const events = await store.readAll({ after: start });
        const tail = await store.readPositions({ after: start, limit: 100 });
        expect(tail).toEqual(events.map((e) => ({ position: e.position, type: e.type })));
        expect(tail.map((e) => e.type)).toEqual(['Alpha', 'Beta', 'Alpha', 'Gamma', 'Delta']);
        expect(await store.readPositions({ after: tail[1]!.position, limit: 2 })).toEqual(tail.slice(2, 4));
        expect(await store.readPositions({ after: tail[4]!.position, limit: 10 })).toEqual([]);
      });
    });

    describe('subscriptions', () => {
      it('catches up, goes live, and resumes from a stored checkpoint after a restart', async () => {
        await settle();
        const start = await store.headPosition();
        const s = stream();
        await store.append(s, [ev('Old'), ev('Old')]);
        // "Caught up" means caught up with what readers can see; wait until that includes these two.
        await settle();
        const controller = new AbortController();
        let caughtUp = false;
        const received: RecordedEvent[] = [];
        const done = (async () => {
          for await (const e of store.subscribe({
            after: start,
            signal: controller.signal,
            onCaughtUp: () => {
              caughtUp = true;
            },
          })) {
            received.push(e);
            if (received.length === 3) controller.abort();
          }
        })();
        await waitFor(() => caughtUp);
        expect(received.map((e) => e.type)).toEqual(['Old', 'Old']);
        await store.append(s, [ev('New')]);
        await done;
        expect(received.map((e) => e.type)).toEqual(['Old', 'Old', 'New']);

        const checkpoint = received[1]!.position; // as if only two were processed before a crash
        await store.append(s, [ev('Later')]);
        const restarted = await sut.reopen();
        const again = new AbortController();
        const resumed = await collect(
          restarted.subscribe({ after: checkpoint, signal: again.signal }),
          2,
          again,
        );
        expect(resumed.map((e) => e.type)).toEqual(['New', 'Later']);
      });

      it('delivers to a filtered subscription only the chosen types', async () => {
        await settle();
        const start = await store.headPosition();
        const s = stream();
        await store.append(s, [ev('Keep'), ev('Skip'), ev('Keep')]);
        const controller = new AbortController();
        const got = await collect(
          store.subscribe({ after: start, types: ['Keep'], signal: controller.signal }),
          2,
          controller,
        );
        expect(got.map((e) => e.type)).toEqual(['Keep', 'Keep']);
      });
    });

    describe('ordering under concurrency', () => {
      it('8 writers × 5,000 events: the subscriber sees each once, in increasing position, equal to read-all', async () => {
        const writers = 8;
        const perWriter = 625; // 5,000 events in all
        await settle();
        const start = await store.headPosition();
        const run = randomUUID().slice(0, 8);
        const controller = new AbortController();
        const seen: RecordedEvent[] = [];
        const subscriber = (async () => {
          for await (const e of store.subscribe({
            after: start,
            signal: controller.signal,
            batchSize: 200,
          })) {
            seen.push(e);
            if (seen.length === writers * perWriter) controller.abort();
          }
        })();
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            for (let i = 0; i < perWriter; i++) {
              // Many streams, some shared between writers, some appends of several events.
              const size = i % 10 === 0 ? 3 : 1;
              const s = `test.Load-${run}-${w}-${i % 25}`;
              await store.append(
                s,
                Array.from({ length: size }, () => ev('Load', { w, i })),
              );
              i += size - 1;
            }
          }),
        );
        const timeout = setTimeout(() => controller.abort(), 60_000);
        await subscriber;
        clearTimeout(timeout);

        const final: RecordedEvent[] = [];
        let after = start;
        for (;;) {
          const page = await store.readAll({ after, limit: 1000 });
          if (page.length === 0) break;
          final.push(...page);
          after = page[page.length - 1]!.position;
        }
        expect(final).toHaveLength(writers * perWriter);
        expect(seen.map((e) => e.id)).toEqual(final.map((e) => e.id));
        expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
        for (let i = 1; i < seen.length; i++) {
          if (!(seen[i]!.position > seen[i - 1]!.position)) throw new Error(`position went back at ${i}`);
        }
        const byStream = new Map<string, number[]>();
        for (const e of final) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e.revision]);
        for (const [s, revisions] of byStream) {
          expect(revisions, s).toEqual(revisions.map((_, i) => i));
        }
      });
    });

    describe('payloads and metadata', () => {
      it('round-trips metadata, unicode and a 1 MB payload', async () => {
        const s = stream();
        const metadata = {
          tenantId: 'acme',
          actorId: 'user-1',
          correlationId: randomUUID(),
          causationId: randomUUID(),
          requestId: 'req-1',
        };
        const unicode = { text: 'Grüße, 世界 — 👩‍💻 עברית \u0000 null byte and \\ "quotes"', emoji: '🛡️' };
        const big = {
          blob: 'x'.repeat(1024 * 1024),
          nested: { list: Array.from({ length: 100 }, (_, i) => i) },
        };
        await store.append(s, [ev('Unicode', unicode, metadata), ev('Big', big, metadata)]);
        const [first, second] = await store.readStream(s);
        expect(first!.metadata).toMatchObject(metadata);
        expect(first!.data).toEqual(unicode);
        expect(second!.data).toEqual(big);
        expect(first!.recordedAt).toBeInstanceOf(Date);
      });

      it('refuses bad input with a typed error naming the field, and appends nothing', async () => {
        const s = stream();
        const cases: [() => Promise<unknown>, string][] = [
          [() => store.append('', [ev()]), 'streamId'],
          [() => store.append(s, []), 'events'],
          [() => store.append(s, [ev('T', { n: 10n })]), 'events[0].data.n'],
          [() => store.append(s, [ev('T', { f: () => 1 })]), 'events[0].data.f'],
          [() => store.append(s, [ev('T', { n: Number.NaN })]), 'events[0].data.n'],
          [() => store.append(s, [ev('T', new Map())]), 'events[0].data'],
          [() => store.append(s, [{ ...ev(), id: 'not-a-uuid' }]), 'events[0].id'],
          [() => store.append(s, [{ ...ev(), type: '' }]), 'events[0].type'],
          [() => store.append(s, [ev()], { expected: -2 }), 'expected'],
          [() => store.append(s, [ev()], { expected: 1.5 }), 'expected'],
          [() => store.append(s, [ev()], { expected: 'latest' as never }), 'expected'],
        ];
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        cases.push([() => store.append(s, [ev('T', cyclic)]), 'events[0].data.self']);
        for (const [attempt, field] of cases) {
          const error = await attempt().catch((e: unknown) => e);
          expect(error, field).toBeInstanceOf(InvalidAppendError);
          expect(error, field).toMatchObject({ code: 'ERR_INVALID_APPEND', field });
        }
        expect(await store.readStream(s)).toEqual([]);
      });
    });
  });
}

export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
