import {
  type AllStreamResolvedEvent,
  eventTypeFilter,
  excludeSystemEvents,
  type Filter,
  type KurrentDBClient,
} from '@kurrent/kurrentdb-client';
import type { RecordedEvent, SubscribeOptions } from '../port.ts';
import { SubscriptionFeed } from './feed.ts';
import { isSystemEvent, readStartFor, toGlobalPosition, toRecordedEvent, typesRegex } from './mapping.ts';
import { lastRecordPosition, newestVisiblePosition } from './reads.ts';

/**
 * Catch-up then live over `subscribeToAll`, resumable from any position this store handed out.
 *
 * The server filters (the chosen event types, or every `$`-type); system streams are skipped here.
 * `onCaughtUp` fires when the server says the subscription turned live (23.10+), or earlier when what
 * was stored at the start has been delivered: an event at or past the newest Warden event (no type
 * filter), or a filter checkpoint at or past the log's last record (older servers send one when a
 * filtered catch-up reaches the end). It fires again after the server reports falling behind.
 * Aborting `signal` cancels the server-side subscription and ends the iterator without error; a
 * dropped connection ends it with the client's error, and the caller resumes from its checkpoint.
 */
export async function* subscribeAll(
  client: KurrentDBClient,
  options: SubscribeOptions,
  track: (feed: SubscriptionFeed<AllStreamResolvedEvent>) => () => void,
): AsyncGenerator<RecordedEvent> {
  const { signal, types, onCaughtUp } = options;
  let last = options.after ?? 0n;
  let live = false;
  const turnLive = () => {
    if (live) return;
    live = true;
    onCaughtUp?.(last);
  };
  if (signal?.aborted) return;
  if (types?.length === 0) {
    turnLive();
    await new Promise<void>((resolve) => {
      if (!signal) return;
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return;
  }
  const [newestVisible, end] = await Promise.all([
    types ? Promise.resolve(undefined) : newestVisiblePosition(client),
    lastRecordPosition(client),
  ]);
  if (newestVisible !== undefined && newestVisible <= last) turnLive();

  const checkpointReached: Filter['checkpointReached'] = (_subscription, position) =>
    feed.mark({ kind: 'checkpoint', position });
  const filter = types
    ? eventTypeFilter({ regex: typesRegex(types), checkpointInterval: 1, checkpointReached })
    : excludeSystemEvents({ checkpointInterval: 1, checkpointReached });
  const feed = new SubscriptionFeed<AllStreamResolvedEvent>(
    client.subscribeToAll({ fromPosition: readStartFor(last), filter }),
    options.batchSize ?? 500,
  );
  const untrack = track(feed);
  const onAbort = () => void feed.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (signal?.aborted) return;
      const item = await feed.next();
      if (item === undefined) return;
      switch (item.kind) {
        case 'caughtUp':
          turnLive();
          break;
        case 'fellBehind':
          live = false;
          break;
        case 'checkpoint':
          if (end === undefined || item.position.commit >= end) turnLive();
          break;
        case 'event': {
          const event = item.event.event;
          if (!event) break;
          const position = toGlobalPosition(event.position, `event ${event.id} in ${event.streamId}`);
          if (position <= last || isSystemEvent(event)) break;
          last = position;
          yield toRecordedEvent(event);
          if (newestVisible !== undefined && position >= newestVisible) turnLive();
          break;
        }
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    untrack();
    await feed.close();
  }
}
