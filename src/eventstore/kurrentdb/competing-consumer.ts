import {
  DISPATCH_TO_SINGLE,
  END,
  ErrorType,
  eventTypeFilter,
  excludeSystemEvents,
  type KurrentDBClient,
  PARK,
  type PersistentSubscriptionToAllResolvedEvent,
  type PersistentSubscriptionToStreamResolvedEvent,
  PINNED,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  RETRY,
  ROUND_ROBIN,
  START,
} from '@kurrent/kurrentdb-client';
import PQueue from 'p-queue';
import type { RecordedEvent } from '../port.ts';
import { SubscriptionFeed } from './feed.ts';
import { isSystemEvent, toRecordedEvent, typesRegex } from './mapping.ts';

/** What a consumer group reads. */
export type ConsumerSource =
  /** Warden events in `$all`, optionally only these types (filtered by the server). */
  | { kind: 'all'; types?: readonly string[] }
  /**
   * One category (the stream id before its first `-`, e.g. `packages.Request`) through the
   * `$ce-<category>` stream, which the server's `$by_category` projection must be building.
   */
  | { kind: 'category'; category: string };

export interface CompetingConsumerOptions {
  /** Consumer group name; every process running the same group shares its events. */
  group: string;
  source: ConsumerSource;
  /** Handles one event. Throwing nacks it: retried up to `maxRetries` times, then parked. */
  handle: (event: RecordedEvent, delivery: { retryCount: number }) => Promise<void>;
  /** Retries of a failing event before it is parked (default 5). Parked events wait for an operator. */
  maxRetries?: number;
  /** Events handled at once in this process (default 1). */
  concurrency?: number;
  /** Where a group created here starts (default `'start'`, so history is handled too). */
  startFrom?: 'start' | 'end';
  /** How the server spreads events over the group's consumers (default round robin). */
  strategy?: 'round-robin' | 'pinned' | 'dispatch-to-single';
  /** Stops consuming; in-flight handlers finish, then the returned promise resolves. */
  signal?: AbortSignal;
}

type Delivery = PersistentSubscriptionToAllResolvedEvent | PersistentSubscriptionToStreamResolvedEvent;

const STRATEGIES = { 'round-robin': ROUND_ROBIN, pinned: PINNED, 'dispatch-to-single': DISPATCH_TO_SINGLE };

/**
 * Creates the persistent subscription group if it does not exist; an existing group keeps its
 * settings (change them with the server's tools), so every worker can call this at start.
 */
export async function ensureConsumerGroup(
  client: KurrentDBClient,
  options: Pick<CompetingConsumerOptions, 'group' | 'source' | 'maxRetries' | 'startFrom' | 'strategy'>,
): Promise<void> {
  const common = {
    maxRetryCount: options.maxRetries ?? 5,
    consumerStrategyName: STRATEGIES[options.strategy ?? 'round-robin'],
  };
  const start = options.startFrom === 'end' ? END : START;
  try {
    if (options.source.kind === 'all') {
      const types = options.source.types;
      await client.createPersistentSubscriptionToAll(
        options.group,
        persistentSubscriptionToAllSettingsFromDefaults({ ...common, startFrom: start }),
        { filter: types ? eventTypeFilter({ regex: typesRegex(types) }) : excludeSystemEvents() },
      );
    } else {
      await client.createPersistentSubscriptionToStream(
        categoryStream(options.source.category),
        options.group,
        persistentSubscriptionToStreamSettingsFromDefaults({
          ...common,
          startFrom: start,
          resolveLinkTos: true,
        }),
      );
    }
  } catch (error) {
    if ((error as { type?: unknown }).type !== ErrorType.PERSISTENT_SUBSCRIPTION_EXISTS) throw error;
  }
}

/**
 * One competing consumer of a persistent subscription: the server hands each event of the group to
 * one of the connected consumers, tracks acknowledgements and redelivers what times out. Delivery is
 * at least once (a crash before the ack redelivers), so handlers must be idempotent, e.g. by deriving
 * command ids from the event. Ordering is not guaranteed across retries; use `pinned` to keep one
 * stream's events on one consumer. Resolves when `signal` aborts; rejects if the subscription fails
 * (the caller restarts it; the server kept the group's position).
 */
export async function runCompetingConsumer(
  client: KurrentDBClient,
  options: CompetingConsumerOptions,
): Promise<void> {
  await ensureConsumerGroup(client, options);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const maxRetries = options.maxRetries ?? 5;
  const bufferSize = Math.max(10, 2 * concurrency);
  const subscription =
    options.source.kind === 'all'
      ? client.subscribeToPersistentSubscriptionToAll(options.group, { bufferSize })
      : client.subscribeToPersistentSubscriptionToStream(
          categoryStream(options.source.category),
          options.group,
          {
            bufferSize,
          },
        );
  const feed = new SubscriptionFeed<Delivery>(subscription, bufferSize);
  const queue = new PQueue({ concurrency });
  const { signal } = options;
  // On abort, stop taking events but let in-flight handlers ack before the subscription closes.
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal?.aborted) resolve(undefined);
  });
  signal?.addEventListener('abort', onAbort, { once: true });

  async function deliver(delivery: Delivery): Promise<void> {
    const event = delivery.event;
    try {
      if (!event || isSystemEvent(event)) {
        await subscription.ack(delivery);
        return;
      }
      let recorded: RecordedEvent;
      try {
        recorded = toRecordedEvent(event);
      } catch (error) {
        await subscription.nack(PARK, reasonOf(error), delivery);
        return;
      }
      try {
        await options.handle(recorded, { retryCount: delivery.retryCount });
      } catch (error) {
        await subscription.nack(delivery.retryCount < maxRetries ? RETRY : PARK, reasonOf(error), delivery);
        return;
      }
      await subscription.ack(delivery);
    } catch {
      // The ack or nack did not reach the server (the subscription closed): it redelivers the event
      // after the group's message timeout, which at-least-once handlers tolerate.
    }
  }

  try {
    for (;;) {
      const next = feed.next();
      const item = await Promise.race([next, aborted]);
      if (item === undefined) {
        next.catch(() => undefined); // settles once the feed closes below; nobody awaits it now
        break;
      }
      if (item.kind !== 'event') continue;
      await queue.onSizeLessThan(concurrency);
      void queue.add(() => deliver(item.event));
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await queue.onIdle();
    await feed.close();
  }
}

function categoryStream(category: string): string {
  return `$ce-${category}`;
}

function reasonOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}
