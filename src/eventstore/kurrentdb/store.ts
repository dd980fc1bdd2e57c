import {
  type AppendStreamState,
  BACKWARDS,
  END,
  ErrorType,
  type AppendResult as EsdbAppendResult,
  type EventData,
  FORWARDS,
  jsonEvent,
  KurrentDBClient,
  NO_STREAM,
  START,
} from '@kurrent/kurrentdb-client';
import {
  type AppendListener,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  InvalidAppendError,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
  typesOf,
  WrongExpectedRevisionError,
} from '../port.ts';
import { type ValidAppend, validateAppend, validateReadLimit, validateStreamRead } from '../validate.ts';
import type { SubscriptionFeed } from './feed.ts';
import {
  appendResultOf,
  isRetryableAppendError,
  isWrongExpectedVersion,
  mapAppendError,
  normaliseConnectionString,
  RESERVATION_STREAM_PREFIX,
  RESERVATION_TYPE,
  reservationEventId,
  toActualRevision,
  toEsdbEvent,
  toEsdbExpected,
  toRecordedEvent,
} from './mapping.ts';
import {
  newestVisiblePosition,
  positionAtRevision,
  readTypes,
  readUntil,
  readVisible,
  scanAfter,
} from './reads.ts';
import { subscribeAll } from './subscribe.ts';

export interface EventStoreDbOptions {
  /**
   * Refuse an event id already used in another stream, as the PostgreSQL adapter does (default
   * `true`). ESDB checks ids only within a stream, so before each append every id is reserved by an
   * append of a `$`-typed record to its own stream `warden-event-id-<id>`, expecting no stream; the
   * reservation's own id is derived from (stream, id), so a retry for the same stream is idempotent
   * and any other stream conflicts. Costs one small extra append per event (made in parallel). An
   * append that fails after reserving leaves its ids bound to that stream.
   */
  uniqueEventIds?: boolean;
  /** Attempts for an append that timed out or found the server unavailable (default 3). Safe: same ids. */
  appendAttempts?: number;
  /** `countAfter` reads at most this many events and reports at most this number (default 10,000). */
  countLimit?: number;
}

/**
 * The EventStoreDB/KurrentDB adapter on `@kurrent/kurrentdb-client` 1.3.1 (servers 22.10+; 23.10+ for
 * the server's caught-up signal). Global positions are `$all` commit positions (see
 * `toGlobalPosition`). Given a connection string (`esdb://…`, `kurrentdb://…`) the store owns the
 * client and `close()` disposes it; given a client, the caller keeps it.
 */
export function eventStoreDbEventStore(
  connection: KurrentDBClient | string,
  options: EventStoreDbOptions = {},
): EventStore {
  const ownsClient = typeof connection === 'string';
  const client = ownsClient
    ? KurrentDBClient.connectionString(normaliseConnectionString(connection))
    : connection;
  const uniqueEventIds = options.uniqueEventIds ?? true;
  const attempts = Math.max(1, options.appendAttempts ?? 3);
  const countLimit = options.countLimit ?? 10_000;
  const feeds = new Set<SubscriptionFeed<unknown>>();
  const listeners = new Set<AppendListener>();

  async function appendOnce(
    streamId: string,
    events: EventData[],
    streamState: AppendStreamState,
  ): Promise<EsdbAppendResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await client.appendToStream(streamId, events, { streamState });
      } catch (error) {
        // ESDB drops a duplicate write whose original is not yet replicated and lets it time out:
        // repeating it with the same ids is the documented way to get the original's answer.
        if (attempt >= attempts || !isRetryableAppendError(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  async function reserve(streamId: string, eventId: string): Promise<void> {
    const reservation = `${RESERVATION_STREAM_PREFIX}${eventId}`;
    const record = jsonEvent({
      id: reservationEventId(streamId, eventId),
      type: RESERVATION_TYPE,
      data: { streamId, eventId },
    });
    try {
      await appendOnce(reservation, [record], NO_STREAM);
      return;
    } catch (error) {
      if (!isWrongExpectedVersion(error)) throw error;
    }
    // Taken: by this stream (a concurrent retry of this append) or by another one.
    let owner: unknown;
    try {
      await readUntil(client.readStream(reservation, { maxCount: 1 }), (resolved) => {
        owner = (resolved.event?.data as { streamId?: unknown } | undefined)?.streamId;
        return false;
      });
    } catch (error) {
      // Not readable yet: only another stream's reservation can be in flight under a different id.
      if ((error as { type?: unknown }).type !== ErrorType.STREAM_NOT_FOUND) throw error;
    }
    if (owner !== streamId) {
      throw new InvalidAppendError('events', 'an event id is already used by another event');
    }
  }

  async function append(
    streamId: string,
    events: readonly NewEvent[],
    opts?: AppendOptions,
  ): Promise<AppendResult> {
    const valid: ValidAppend = validateAppend(streamId, events, opts);
    if (uniqueEventIds) await Promise.all(valid.events.map((e) => reserve(valid.streamId, e.id)));
    let result: EsdbAppendResult;
    try {
      result = await appendOnce(
        valid.streamId,
        valid.events.map(toEsdbEvent),
        toEsdbExpected(valid.expected),
      );
    } catch (error) {
      throw mapAppendError(error, valid);
    }
    if (!result.success) {
      // Only with a caller's client built with `throwOnAppendFailure: false`.
      throw new WrongExpectedRevisionError(
        valid.streamId,
        valid.expected,
        toActualRevision(result.nextExpectedRevision),
      );
    }
    const { revision, position: reported } = appendResultOf(result);
    // An idempotent retry on an older server reports no position: read the original's.
    const position =
      reported ?? (await positionAtRevision(client, valid.streamId, result.nextExpectedRevision));
    if (listeners.size > 0) {
      const types = typesOf(valid.events);
      for (const listener of listeners) listener(types, position);
    }
    return { revision, position };
  }

  async function readStream(streamId: string, opts: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const { limit, from } = validateStreamRead(streamId, opts);
    const backwards = opts.direction === 'backwards';
    const start = from ?? (backwards ? 'end' : 'start');
    const fromRevision = typeof start === 'number' ? BigInt(start) : start === 'end' ? END : START;
    const out: RecordedEvent[] = [];
    try {
      await readUntil(
        client.readStream(streamId, {
          fromRevision,
          maxCount: limit,
          direction: backwards ? BACKWARDS : FORWARDS,
        }),
        (resolved) => {
          if (resolved.event) out.push(toRecordedEvent(resolved.event));
          return true;
        },
      );
    } catch (error) {
      const type = (error as { type?: unknown }).type;
      if (type === ErrorType.STREAM_NOT_FOUND || type === ErrorType.STREAM_DELETED) return [];
      throw error;
    }
    return out;
  }

  async function readAll(opts: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = opts.after ?? 0n;
    const limit = validateReadLimit(opts.limit);
    if (!opts.types) return readVisible(client, after, limit);
    if (opts.types.length === 0) return [];
    return readTypes(client, after, limit, opts.types);
  }

  /** Bounded: lag beyond `countLimit` events is reported as `countLimit`. */
  async function countAfter(position: bigint): Promise<number> {
    let count = 0;
    await scanAfter(client, position, countLimit, () => {
      count += 1;
      return count < countLimit;
    });
    return count;
  }

  function track(feed: SubscriptionFeed<unknown>): () => void {
    feeds.add(feed);
    return () => feeds.delete(feed);
  }

  return {
    name: 'eventstoredb',
    append,
    readStream,
    readAll,
    subscribe: (opts: SubscribeOptions = {}) => subscribeAll(client, opts, track),
    headPosition: () => newestVisiblePosition(client),
    countAfter,
    readPositions: async ({ after, limit }) =>
      (await readVisible(client, after, validateReadLimit(limit))).map((e) => ({
        position: e.position,
        type: e.type,
      })),
    onAppend: (listener: AppendListener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close: async () => {
      await Promise.all([...feeds].map((feed) => feed.close()));
      if (ownsClient) await client.dispose();
    },
  };
}
