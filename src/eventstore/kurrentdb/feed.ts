import type { Position, ReadableSubscription } from '@kurrent/kurrentdb-client';

/** What a subscription produced, in the order the server sent it. */
export type FeedItem<E> =
  | { kind: 'event'; event: E }
  | { kind: 'caughtUp' }
  | { kind: 'fellBehind' }
  | { kind: 'checkpoint'; position: Position };

type Marker = Exclude<FeedItem<never>, { kind: 'event' }>;

/**
 * Pulls a client subscription (a Node stream) one item at a time, with backpressure, keeping the
 * server's control messages in order with the events.
 *
 * Why not `for await` over the stream: the client reports caught-up, fell-behind and checkpoints as
 * separate emitter events, fired while the events before them may still sit in the stream's buffer,
 * and a cancelled subscription never ends its stream. Here a control message is queued only after
 * every event received before it (counted as delivered + buffered at the moment it fires), and
 * `close()` ends the feed whatever the stream does.
 */
export class SubscriptionFeed<E> {
  readonly #subscription: ReadableSubscription<E>;
  readonly #highWater: number;
  readonly #queue: FeedItem<E>[] = [];
  readonly #markers: { after: number; item: Marker }[] = [];
  #received = 0;
  #paused = false;
  #closed = false;
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  constructor(subscription: ReadableSubscription<E>, highWater: number) {
    this.#subscription = subscription;
    this.#highWater = Math.max(1, highWater);
    subscription.on('data', (event: E) => {
      this.#received += 1;
      this.#queue.push({ kind: 'event', event });
      this.#flushMarkers();
      if (this.#queue.length >= this.#highWater && !this.#paused) {
        this.#paused = true;
        subscription.pause();
      }
      this.#notify();
    });
    subscription.on('caughtUp', () => this.mark({ kind: 'caughtUp' }));
    subscription.on('fellBehind', () => this.mark({ kind: 'fellBehind' }));
    // Kept for the whole life of the stream: an 'error' with no listener would crash the process.
    subscription.on('error', (error: Error) => {
      if (this.#closed) return;
      this.#error = error;
      this.#notify();
    });
    subscription.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
  }

  /** Queue a control message after every event the stream has received so far. */
  mark(item: Marker): void {
    const after = this.#received + this.#subscription.readableLength;
    this.#markers.push({ after, item });
    this.#flushMarkers();
    this.#notify();
  }

  /** The next item; `undefined` once closed. Throws the stream's error, or if it ended by itself. */
  async next(): Promise<FeedItem<E> | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const item = this.#queue.shift();
      if (item) {
        if (this.#paused && this.#queue.length <= this.#highWater / 2) {
          this.#paused = false;
          this.#subscription.resume();
        }
        return item;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) throw new Error('the EventStoreDB subscription ended unexpectedly');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  /** Cancels the subscription on the server and ends the feed. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#notify();
    try {
      await this.#subscription.unsubscribe();
    } catch {
      // The call never started (e.g. no connection): there is nothing to cancel on the server.
    }
    this.#subscription.destroy();
  }

  #flushMarkers(): void {
    while (this.#markers.length > 0 && this.#markers[0]!.after <= this.#received) {
      this.#queue.push(this.#markers.shift()!.item);
    }
  }

  #notify(): void {
    this.#wake?.();
  }
}
