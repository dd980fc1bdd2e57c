import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import {
  ANY,
  DeadlineExceededError,
  type RecordedEvent as EsdbRecordedEvent,
  MaxAppendSizeExceededError,
  NO_STREAM,
  type ReadableSubscription,
  START,
  STREAM_EXISTS,
  UnavailableError,
  WrongExpectedVersionError,
} from '@kurrent/kurrentdb-client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SubscriptionFeed } from '../../src/eventstore/kurrentdb/feed.ts';
import {
  appendResultOf,
  EventStoreDbPositionError,
  fromEsdbMetadata,
  isRetryableAppendError,
  isSystemEvent,
  mapAppendError,
  normaliseConnectionString,
  readStartFor,
  reservationEventId,
  toEsdbEvent,
  toEsdbExpected,
  toEsdbPosition,
  toGlobalPosition,
  toRecordedEvent,
  typesRegex,
} from '../../src/eventstore/kurrentdb/mapping.ts';
import { InvalidAppendError, WrongExpectedRevisionError } from '../../src/eventstore/port.ts';
import { validateAppend } from '../../src/eventstore/validate.ts';

const wrongVersion = (current: bigint | 'no_stream') =>
  new WrongExpectedVersionError(undefined, { streamName: 's', expected: ANY, current });

describe('positions', () => {
  it('maps a single-append position to its commit position and back, preserving order', () => {
    fc.assert(
      fc.property(fc.bigInt(1n, 2n ** 62n), fc.bigInt(1n, 2n ** 62n), (a, b) => {
        expect(toGlobalPosition(toEsdbPosition(a))).toBe(a);
        expect(toEsdbPosition(a)).toEqual({ commit: a, prepare: a });
        expect(toGlobalPosition(toEsdbPosition(a)) < toGlobalPosition(toEsdbPosition(b))).toBe(a < b);
      }),
    );
  });

  it('refuses positions one number cannot order or that the server did not report', () => {
    expect(() => toGlobalPosition({ commit: 500n, prepare: 300n })).toThrow(EventStoreDbPositionError);
    expect(() => toGlobalPosition(undefined)).toThrow(EventStoreDbPositionError);
    expect(() => toGlobalPosition({ commit: 2n ** 64n - 1n, prepare: 2n ** 64n - 1n })).toThrow(/22\.6/);
  });

  it('reads from the start for 0 and from the event itself for a stored position', () => {
    expect(readStartFor(0n)).toBe(START);
    expect(readStartFor(4096n)).toEqual({ commit: 4096n, prepare: 4096n });
  });

  it('takes the reported commit position of an append, or none when the server left it out', () => {
    expect(
      appendResultOf({ success: true, nextExpectedRevision: 4n, position: { commit: 900n, prepare: 900n } }),
    ).toEqual({ revision: 4, position: 900n });
    expect(appendResultOf({ success: true, nextExpectedRevision: 1n })).toEqual({ revision: 1 });
    const unknown = 2n ** 64n - 1n;
    expect(
      appendResultOf({
        success: true,
        nextExpectedRevision: 0n,
        position: { commit: unknown, prepare: unknown },
      }),
    ).toEqual({ revision: 0 });
  });
});

describe('expected revisions and errors', () => {
  it('maps each expectation to the client constant or a bigint revision', () => {
    expect(toEsdbExpected('any')).toBe(ANY);
    expect(toEsdbExpected('no_stream')).toBe(NO_STREAM);
    expect(toEsdbExpected('exists')).toBe(STREAM_EXISTS);
    expect(toEsdbExpected(0)).toBe(0n);
    expect(toEsdbExpected(41)).toBe(41n);
  });

  it('turns the client wrong-expected-version error into the port conflict with the actual revision', () => {
    const conflict = mapAppendError(wrongVersion(4n), { streamId: 'a.B-1', expected: 2 });
    expect(conflict).toBeInstanceOf(WrongExpectedRevisionError);
    expect(conflict).toMatchObject({
      code: 'ERR_WRONG_EXPECTED_REVISION',
      streamId: 'a.B-1',
      expected: 2,
      actual: 4,
    });
    const missing = mapAppendError(wrongVersion('no_stream'), { streamId: 'a.B-2', expected: 'exists' });
    expect(missing).toMatchObject({ expected: 'exists', actual: 'no_stream' });
    expect(mapAppendError(wrongVersion(-1n), { streamId: 'x', expected: 0 })).toMatchObject({
      actual: 'no_stream',
    });
  });

  it('reports an over-size append as invalid input and leaves other errors alone', () => {
    const tooBig = mapAppendError(MaxAppendSizeExceededError.fromMaxAppendSize(1_048_576), {
      streamId: 's',
      expected: 'any',
    });
    expect(tooBig).toBeInstanceOf(InvalidAppendError);
    expect(tooBig).toMatchObject({ code: 'ERR_INVALID_APPEND', field: 'events' });
    const other = new UnavailableError();
    expect(mapAppendError(other, { streamId: 's', expected: 'any' })).toBe(other);
  });

  it('repeats appends only after timeouts and unavailability', () => {
    expect(isRetryableAppendError(new DeadlineExceededError())).toBe(true);
    expect(isRetryableAppendError(new UnavailableError())).toBe(true);
    expect(isRetryableAppendError(wrongVersion(1n))).toBe(false);
    expect(isRetryableAppendError(new Error('boom'))).toBe(false);
  });
});

describe('events', () => {
  /** What the server hands back for what `toEsdbEvent` sent: JSON text re-parsed, as the client does. */
  function stored(sent: ReturnType<typeof toEsdbEvent>, streamId: string, revision: bigint, at: bigint) {
    return {
      streamId,
      id: sent.id,
      isJson: true,
      revision,
      type: sent.type,
      created: new Date('2025-01-02T03:04:05.678Z'),
      data: JSON.parse(JSON.stringify(sent.data)),
      metadata: JSON.parse(JSON.stringify(sent.metadata)),
      position: { commit: at, prepare: at },
    } as EsdbRecordedEvent;
  }

  it('round-trips data and metadata exactly as JSON would, with recordedAt from created', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), fc.uuid(), (data, actor, correlation) => {
        const metadata = { tenantId: 'acme', actorId: actor, correlationId: correlation, causationId: 'c-1' };
        const valid = validateAppend('t.Thing-1', [{ id: randomUUID(), type: 'Happened', data, metadata }]);
        const sent = toEsdbEvent(valid.events[0]!);
        expect(sent.contentType).toBe('application/json');
        expect(sent.metadata).toMatchObject({ $correlationId: correlation, $causationId: 'c-1' });
        const recorded = toRecordedEvent(stored(sent, 't.Thing-1', 7n, 123_456n));
        expect(recorded).toEqual({
          id: valid.events[0]!.id,
          type: 'Happened',
          data: JSON.parse(JSON.stringify(data)),
          metadata,
          streamId: 't.Thing-1',
          revision: 7,
          position: 123_456n,
          recordedAt: new Date('2025-01-02T03:04:05.678Z'),
        });
      }),
      { numRuns: 200 },
    );
  });

  it('keeps metadata of other writers, drops only the ESDB copies this adapter added', () => {
    expect(fromEsdbMetadata({ correlationId: 'a', $correlationId: 'a' })).toEqual({ correlationId: 'a' });
    expect(fromEsdbMetadata({ correlationId: 'a', $correlationId: 'b' })).toEqual({
      correlationId: 'a',
      $correlationId: 'b',
    });
    expect(fromEsdbMetadata(undefined)).toEqual({});
    expect(fromEsdbMetadata(new Uint8Array([1, 2]))).toEqual({});
  });

  it('treats $ streams and $ types as system records', () => {
    expect(isSystemEvent({ streamId: '$ce-test.Thing', type: '$>' })).toBe(true);
    expect(isSystemEvent({ streamId: '$projections-x-result', type: 'Result' })).toBe(true);
    expect(isSystemEvent({ streamId: 'warden-event-id-1', type: '$warden.event-id-reserved' })).toBe(true);
    expect(isSystemEvent({ streamId: 'tenancy.Tenant-1', type: 'TenantCreated' })).toBe(false);
  });

  it('builds a server-side type filter that matches the given types exactly', () => {
    const types = ['Alpha', 'a.b', 'x+y', 'with space', 'dash-ed', 'par(en)'];
    const regex = new RegExp(typesRegex(types));
    for (const t of types) expect(regex.test(t)).toBe(true);
    for (const t of ['Alph', 'Alphas', 'aXb', 'xxy', 'a.b.c', 'par(en)s']) expect(regex.test(t)).toBe(false);
  });

  it('derives one reservation id per (stream, event id) pair', () => {
    const id = randomUUID();
    const a = reservationEventId('s.A-1', id);
    expect(a).toBe(reservationEventId('s.A-1', id.toUpperCase()));
    expect(a).not.toBe(reservationEventId('s.A-2', id));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('rewrites EventStoreDB connection strings to the KurrentDB scheme the client reads without a warning', () => {
    expect(normaliseConnectionString('esdb://127.0.0.1:2113?tls=false')).toBe(
      'kurrentdb://127.0.0.1:2113?tls=false',
    );
    expect(normaliseConnectionString('ESDB+discover://a:2113')).toBe('kurrentdb+discover://a:2113');
    expect(normaliseConnectionString('kurrentdb://h:2113')).toBe('kurrentdb://h:2113');
    expect(normaliseConnectionString('kurrent+discover://h:2113')).toBe('kurrent+discover://h:2113');
  });
});

describe('subscription feed', () => {
  // A plain Node object stream standing in for the client's subscription stream (which is one).
  function subscription() {
    const stream = new PassThrough({ objectMode: true }) as PassThrough & { unsubscribe(): Promise<void> };
    let unsubscribed = 0;
    stream.unsubscribe = async () => {
      unsubscribed += 1;
    };
    return { stream, unsubscribed: () => unsubscribed };
  }

  it('delivers a caught-up signal after every event received before it, even ones still buffered', async () => {
    const { stream, unsubscribed } = subscription();
    const feed = new SubscriptionFeed<number>(stream as unknown as ReadableSubscription<number>, 2);
    for (const n of [1, 2, 3, 4, 5]) stream.write(n);
    await new Promise((resolve) => setImmediate(resolve));
    stream.emit('caughtUp');
    stream.write(6);
    const kinds: string[] = [];
    for (let i = 0; i < 7; i++) {
      const item = await feed.next();
      kinds.push(item?.kind === 'event' ? String(item.event) : String(item?.kind));
    }
    expect(kinds).toEqual(['1', '2', '3', '4', '5', 'caughtUp', '6']);
    await feed.close();
    expect(await feed.next()).toBeUndefined();
    expect(unsubscribed()).toBe(1);
  });

  it('fails the reader when the stream errors, and when it ends without being closed', async () => {
    const broken = subscription();
    const failing = new SubscriptionFeed<number>(
      broken.stream as unknown as ReadableSubscription<number>,
      10,
    );
    broken.stream.destroy(new Error('connection lost'));
    await expect(failing.next()).rejects.toThrow('connection lost');
    const ended = subscription();
    const ending = new SubscriptionFeed<number>(ended.stream as unknown as ReadableSubscription<number>, 10);
    ended.stream.end();
    await expect(ending.next()).rejects.toThrow(/ended unexpectedly/);
  });
});
