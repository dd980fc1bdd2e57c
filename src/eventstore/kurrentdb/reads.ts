import {
  type AllStreamResolvedEvent,
  BACKWARDS,
  END,
  eventTypeFilter,
  FORWARDS,
  type KurrentDBClient,
  type ReadPosition,
} from '@kurrent/kurrentdb-client';
import type { RecordedEvent } from '../port.ts';
import { SubscriptionFeed } from './feed.ts';
import {
  isSystemEvent,
  readStartFor,
  toEsdbPosition,
  toGlobalPosition,
  toRecordedEvent,
  typesRegex,
} from './mapping.ts';

/** Records per backwards page when looking for the newest Warden event behind system records. */
const BACKWARDS_PAGE = 64;

/**
 * Reads `source` until `visit` returns false or the read ends. Stopping early returns the client's
 * async generator, which closes the read on the server. Returns how many records were read.
 */
export async function readUntil<T>(source: AsyncIterable<T>, visit: (item: T) => boolean): Promise<number> {
  let count = 0;
  for await (const item of source) {
    count += 1;
    if (!visit(item)) break;
  }
  return count;
}

/**
 * Visits Warden events after `after` in `$all` order, system records skipped on this side (the
 * 6.2.1 client this was written on had no filter on `readAll`; 1.3.1 has one, not adopted until the
 * contract suite runs it against a server), until `visit` returns false or `$all` ends. Pages are
 * sized for the expected number of events plus the system records around them (id reservations,
 * projection links).
 */
export async function scanAfter(
  client: KurrentDBClient,
  after: bigint,
  expected: number,
  visit: (event: RecordedEvent) => boolean,
): Promise<void> {
  const pageSize = Math.min(2 * expected + 64, 20_000);
  let from: ReadPosition = readStartFor(after);
  let cursor = after;
  for (;;) {
    let stopped = false;
    let last = cursor;
    const read = await readUntil(
      client.readAll({ fromPosition: from, maxCount: pageSize, direction: FORWARDS }),
      (resolved) => {
        const event = resolved.event;
        if (!event) return true;
        const position = toGlobalPosition(event.position, `event ${event.id} in ${event.streamId}`);
        if (position <= cursor) return true; // the inclusive start record, already seen
        last = position;
        if (isSystemEvent(event)) return true;
        stopped = !visit(toRecordedEvent(event));
        return !stopped;
      },
    );
    if (stopped || read < pageSize || last === cursor) return;
    cursor = last;
    from = toEsdbPosition(last);
  }
}

/** Up to `limit` Warden events after `after`, in `$all` order. */
export async function readVisible(
  client: KurrentDBClient,
  after: bigint,
  limit: number,
): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  await scanAfter(client, after, limit, (event) => {
    out.push(event);
    return out.length < limit;
  });
  return out;
}

/**
 * Up to `limit` events of `types` after `after`, filtered by the server: the 6.2.1 client this was
 * written on only took a filter on `subscribeToAll`, so this is a catch-up subscription with an event-type filter,
 * closed once `limit` events arrived or the server says it caught up (23.10+). Before 23.10 the
 * server sends a checkpoint when a filtered catch-up reaches the end, so a checkpoint (or event)
 * at or past the log's last record at the start also ends the read.
 */
export async function readTypes(
  client: KurrentDBClient,
  after: bigint,
  limit: number,
  types: readonly string[],
): Promise<RecordedEvent[]> {
  const end = await lastRecordPosition(client);
  if (end === undefined || end <= after) return [];
  const feed: SubscriptionFeed<AllStreamResolvedEvent> = new SubscriptionFeed(
    client.subscribeToAll({
      fromPosition: readStartFor(after),
      filter: eventTypeFilter({
        regex: typesRegex(types),
        checkpointInterval: 1,
        checkpointReached: (_subscription, position) => feed.mark({ kind: 'checkpoint', position }),
      }),
    }),
    Math.min(limit, 1000),
  );
  const out: RecordedEvent[] = [];
  try {
    for (;;) {
      const item = await feed.next();
      if (item === undefined) break;
      if (item.kind === 'caughtUp') break;
      if (item.kind === 'checkpoint') {
        if (item.position.commit >= end) break;
        continue;
      }
      if (item.kind !== 'event' || !item.event.event) continue;
      const event = item.event.event;
      const position = toGlobalPosition(event.position, `event ${event.id} in ${event.streamId}`);
      if (position > after && !isSystemEvent(event)) out.push(toRecordedEvent(event));
      if (out.length >= limit || position >= end) break;
    }
  } finally {
    await feed.close();
  }
  return out;
}

/** Position of the newest Warden event (`0n` when there is none), skipping system records. */
export async function newestVisiblePosition(client: KurrentDBClient): Promise<bigint> {
  let from: ReadPosition = END;
  let below: bigint | undefined;
  for (;;) {
    let found: bigint | undefined;
    let last: bigint | undefined;
    const read = await readUntil(
      client.readAll({ fromPosition: from, maxCount: BACKWARDS_PAGE, direction: BACKWARDS }),
      (resolved) => {
        const event = resolved.event;
        if (!event) return true;
        const position = toGlobalPosition(event.position, `event ${event.id} in ${event.streamId}`);
        // Whether a backwards read from a position includes the record there is not relied upon.
        if (below !== undefined && position >= below) return true;
        last = position;
        if (isSystemEvent(event)) return true;
        found = position;
        return false;
      },
    );
    if (found !== undefined) return found;
    if (read < BACKWARDS_PAGE || last === undefined) return 0n;
    below = last;
    from = toEsdbPosition(last);
  }
}

/** Position of the last record of any kind in `$all`, or `undefined` when the log is empty. */
export async function lastRecordPosition(client: KurrentDBClient): Promise<bigint | undefined> {
  let position: bigint | undefined;
  await readUntil(client.readAll({ fromPosition: END, maxCount: 1, direction: BACKWARDS }), (resolved) => {
    position = resolved.event?.position?.commit;
    return false;
  });
  return position;
}

/** `$all` position of the event at `revision` in `streamId`, from a one-event stream read. */
export async function positionAtRevision(
  client: KurrentDBClient,
  streamId: string,
  revision: bigint,
): Promise<bigint> {
  let position: bigint | undefined;
  await readUntil(
    client.readStream(streamId, { fromRevision: revision, maxCount: 1, direction: FORWARDS }),
    (resolved) => {
      const event = resolved.event;
      if (event) position = toGlobalPosition(event.position, `event ${event.id} in ${streamId}`);
      return false;
    },
  );
  if (position === undefined) throw new Error(`stream ${streamId} has no event at revision ${revision}`);
  return position;
}
