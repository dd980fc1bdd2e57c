import {
  type AppendListener,
  type EventStore,
  type ReadAllOptions,
  type RecordedEvent,
  type SubscribeOptions,
  typesOf,
} from './port.ts';

export interface PollingOptions {
  /** How long a caught-up subscription waits before reading again, when it has no `tail`. */
  pollIntervalMs: number;
  /**
   * Registers a callback the store calls after its own appends with the types appended, so live
   * delivery needs no poll wait.
   */
  onAppend?: (wake: AppendListener) => () => void;
  /**
   * The store's one reader of the log's tail: a caught-up subscription then reads only when it
   * reports an event of its types, instead of every `pollIntervalMs`.
   */
  tail?: TailPoller;
}

/** Told the types of the events a poll of the tail found; `undefined` when the poll failed. */
type TailListener = (types: readonly string[] | undefined) => void;

/** Events read per poll of the tail: a longer backlog takes several polls, back to back. */
const TAIL_PAGE = 5000;

/**
 * One reader of the log's tail for every live subscription of a store, so that N caught-up
 * subscriptions cost one small query (positions and types, no data) per interval instead of N page
 * reads. It runs only while someone listens, and tells each listener the types of every event it
 * finds; a subscription reads its page when one of them is of its types.
 *
 * Nothing is missed: `listen` resolves only after the poller has read the head, so a subscription's
 * first read comes later and sees every event at or below it, and each event above it is reported
 * by a poll after it became visible. A subscription marks itself pending on any report that arrives
 * after it began a read, so an event its read's snapshot was too early to see makes it read again;
 * one its read did see costs it at most one read that finds nothing. Visibility only moves forward
 * (readers stop below the oldest running transaction, which never gets older), so an event the
 * poller saw is visible to any read that starts after.
 */
export class TailPoller {
  readonly #listeners = new Set<TailListener>();
  /** The newest position read; undefined while stopped. */
  #head: bigint | undefined;
  #ready: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped at each stop, so a poll that was under way then neither reports nor goes on. */
  #generation = 0;

  constructor(
    private readonly store: Pick<EventStore, 'headPosition' | 'readPositions'>,
    private readonly intervalMs: number,
    /** Events read per poll (tests make it small). */
    private readonly page = TAIL_PAGE,
  ) {}

  /** How many listen now (tests and metrics). */
  get listeners(): number {
    return this.#listeners.size;
  }

  /**
   * Adds a listener; resolves once the poller has read the head, with the function that removes
   * it (the last one removed stops the poller).
   */
  async listen(listener: TailListener): Promise<() => void> {
    this.#listeners.add(listener);
    const unlisten = () => {
      if (this.#listeners.delete(listener) && this.#listeners.size === 0) this.#stop();
    };
    this.#ready ??= this.#start(this.#generation);
    try {
      await this.#ready;
    } catch (error) {
      unlisten();
      throw error;
    }
    return unlisten;
  }

  async #start(generation: number): Promise<void> {
    try {
      const head = await this.store.headPosition();
      if (generation !== this.#generation) return;
      this.#head = head;
      this.#schedule(generation, this.intervalMs);
    } catch (error) {
      if (generation === this.#generation) this.#ready = undefined;
      throw error;
    }
  }

  #schedule(generation: number, ms: number): void {
    this.#timer = setTimeout(() => void this.#poll(generation), ms);
  }

  async #poll(generation: number): Promise<void> {
    let full = false;
    let types: readonly string[] | undefined;
    try {
      const tail = await this.store.readPositions({ after: this.#head!, limit: this.page });
      if (generation !== this.#generation) return;
      full = tail.length === this.page;
      const last = tail.at(-1);
      if (!last) return this.#schedule(generation, this.intervalMs);
      this.#head = last.position;
      types = typesOf(tail);
    } catch {
      // Unknown what was appended: every listener reads, and meets the failure itself if it lasts.
      if (generation !== this.#generation) return;
      types = undefined;
    }
    this.#schedule(generation, full ? 0 : this.intervalMs);
    for (const listener of [...this.#listeners]) listener(types);
  }

  #stop(): void {
    this.#generation++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ready = undefined;
    this.#head = undefined;
  }
}

/**
 * Catch-up-then-live subscription over `readAll`: pages from the checkpoint until a page comes back
 * short (caught up), then waits for a local append or the poll interval. Positions only grow, so the
 * checkpoint is simply the last delivered position.
 */
export async function* subscribeByPolling(
  readAll: (options: ReadAllOptions) => Promise<RecordedEvent[]>,
  options: SubscribeOptions,
  polling: PollingOptions,
): AsyncGenerator<RecordedEvent> {
  const signal = options.signal;
  const batchSize = options.batchSize ?? 500;
  let after = options.after ?? 0n;
  let wake: (() => void) | undefined;
  let pending = false;
  // A subscription to some types wakes only for an append holding one of them: every other append
  // would cost it a read that finds nothing (per append, in every process manager of the process).
  const wanted = options.types ? new Set(options.types) : undefined;
  const hear = (types: readonly string[] | undefined) => {
    if (wanted && types && !types.some((type) => wanted.has(type))) return;
    pending = true;
    wake?.();
  };
  const unregister = polling.onAppend?.(hear);
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  let unlisten: (() => void) | undefined;
  let live = false;
  try {
    // Before the first read, so every event the tail poller does not report is visible to it.
    unlisten = await polling.tail?.listen(hear);
    while (!signal?.aborted) {
      pending = false;
      const page = await readAll({
        after,
        limit: batchSize,
        ...(options.types ? { types: options.types } : {}),
      });
      for (const event of page) {
        if (signal?.aborted) return;
        after = event.position;
        yield event;
      }
      if (page.length < batchSize) {
        if (!live) {
          live = true;
          options.onCaughtUp?.(after);
        }
        if (pending || signal?.aborted) continue;
        await new Promise<void>((resolve) => {
          // With a tail poller, only its report or a local append of our types wakes it.
          const timer = polling.tail ? undefined : setTimeout(resolve, polling.pollIntervalMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      } else {
        live = false;
      }
    }
  } finally {
    unlisten?.();
    unregister?.();
    signal?.removeEventListener('abort', onAbort);
  }
}
