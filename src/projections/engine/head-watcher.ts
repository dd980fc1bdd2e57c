import type { EventStore, EventTypeAt } from '../../eventstore/port.ts';
import type { EngineLogger } from './logger.ts';
import { Trigger } from './timing.ts';

/** Events read per poll of the tail: a longer backlog takes several polls, back to back. */
const TAIL_PAGE = 5000;
/** Types of the newest events kept: a runner further behind reads its page to know (as before). */
const WINDOW = 20_000;
/** Shortest time between a poll and the next one an append of this process asks for. */
const APPEND_GAP_MS = 20;
/**
 * While a position known to exist is not visible yet, polls follow each other at APPEND_GAP_MS,
 * doubling up to this, instead of waiting the whole interval.
 */
const CHASE_MAX_MS = 500;
/** How long an append of this process is chased before its poll falls back to the interval. */
const APPEND_CHASE_MS = 30_000;

/**
 * One watcher of the log's tail for all projections, instead of one read per projection per tick:
 * it reads the position and type of every new event (no data), so a caught-up projection sleeps
 * until the head moves past its checkpoint and then asks {@link typesBetween} whether any of the new
 * events is of its types; if none is, it moves on without reading a page. The store's own appends
 * wake it within {@link APPEND_GAP_MS}; events appended by other processes are seen at the next
 * poll.
 *
 * A committed append is not always visible at once: readers stop below the oldest transaction still
 * running on the server (in any database of it), so one long transaction elsewhere hides it for as
 * long as it runs. A position this process knows exists (its own append, or one a read-your-writes
 * wait names through {@link chase}) is therefore polled for again, at growing gaps up to
 * {@link CHASE_MAX_MS}, until a poll reaches it, instead of at the next interval only.
 */
export class HeadWatcher {
  /** The newest head seen; it was read before any later `readAll`, so its snapshot is older. */
  value = 0n;
  readonly #moved = new Trigger();
  readonly #kick = new Trigger();
  #kickPending = false;
  /**
   * The position and type of every event in (`#from`, `value`], oldest first, once the first poll
   * has set `#from` (the types before it were never read).
   */
  #window: EventTypeAt[] = [];
  #from: bigint | undefined;
  #polling: Promise<bigint> | undefined;
  #polledAt = 0;
  /** The furthest position known to exist that no poll has reached yet, and until when to chase it. */
  #chased = 0n;
  #chaseUntil = 0;
  #chaseGapMs = APPEND_GAP_MS;

  constructor(
    private readonly store: EventStore,
    private readonly pollIntervalMs: number,
    private readonly logger: EngineLogger,
    /** How many of the newest events' types it keeps (tests make it small). */
    private readonly windowSize = WINDOW,
    /** Events read per poll. */
    private readonly tailPage = TAIL_PAGE,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    // The store's own appends wake it, at most one poll per APPEND_GAP_MS: a poll per append would
    // wake every projection of the appended types once per event under a busy write load.
    let soon: ReturnType<typeof setTimeout> | undefined;
    const unhear = this.store.onAppend((_types, position) => {
      this.#chase(position, APPEND_CHASE_MS);
      soon ??= setTimeout(
        () => {
          soon = undefined;
          this.#pollNow();
        },
        Math.max(0, this.#polledAt + APPEND_GAP_MS - performance.now()),
      );
    });
    try {
      while (!signal.aborted) {
        this.#kickPending = false;
        this.#polledAt = performance.now();
        try {
          await this.poll();
          failures = 0;
        } catch (error) {
          failures++;
          if (failures === 1 || failures % 100 === 0) {
            this.logger.warn({ err: error, failures }, 'projection engine cannot read the event store head');
          }
        }
        if (!this.#kickPending) await this.#kick.wait(this.#nextWaitMs(), signal);
      }
    } finally {
      unhear();
      clearTimeout(soon);
    }
  }

  /** Reads the tail once; a call while a read is under way shares it. */
  poll(): Promise<bigint> {
    this.#polling ??= this.#readTail().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async #readTail(): Promise<bigint> {
    if (this.#from === undefined) {
      // The first poll takes the head alone: the types of the log before it are not needed.
      const head = await this.store.headPosition();
      this.#advance(head);
      this.#from = this.value;
      return head;
    }
    const tail = await this.store.readPositions({ after: this.value, limit: this.tailPage });
    if (tail.length === this.tailPage) this.#kickPending = true;
    const last = tail.at(-1);
    if (!last) return this.value;
    this.#window.push(...tail);
    if (this.#window.length > this.windowSize) {
      const dropped = this.#window.splice(0, this.#window.length - this.windowSize);
      this.#from = dropped.at(-1)!.position;
    }
    this.#advance(last.position);
    return last.position;
  }

  #advance(head: bigint): void {
    if (head > this.value) {
      this.value = head;
      this.#moved.fire();
    }
  }

  /**
   * The types of the events in (`after`, `upTo`], or undefined when this watcher has not read them
   * all (before its first poll, or older than what it keeps): the caller must then read the log.
   */
  typesBetween(after: bigint, upTo: bigint): Set<string> | undefined {
    if (this.#from === undefined || after < this.#from || upTo > this.value) return undefined;
    const window = this.#window;
    // The first event after `after`: positions only grow, so a binary search finds it.
    let low = 0;
    let high = window.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (window[mid]!.position <= after) low = mid + 1;
      else high = mid;
    }
    const types = new Set<string>();
    for (let i = low; i < window.length && window[i]!.position <= upTo; i++) types.add(window[i]!.type);
    return types;
  }

  #pollNow(): void {
    this.#kickPending = true;
    this.#kick.fire();
  }

  /** Polls at once, then keeps polling for `position` (see the class) for up to `forMs`. */
  chase(position: bigint, forMs: number): void {
    this.#chase(position, forMs);
    this.#pollNow();
  }

  #chase(position: bigint, forMs: number): void {
    if (position <= this.value) return;
    if (this.#chased <= this.value) {
      // The last chase is over (met): this one starts afresh.
      this.#chaseGapMs = APPEND_GAP_MS;
      this.#chaseUntil = 0;
    }
    if (position > this.#chased) this.#chased = position;
    this.#chaseUntil = Math.max(this.#chaseUntil, performance.now() + forMs);
  }

  /** The interval, or while a known position is still unseen, the next (growing) gap of the chase. */
  #nextWaitMs(): number {
    if (this.#chased <= this.value || performance.now() >= this.#chaseUntil) return this.pollIntervalMs;
    const gap = Math.min(this.#chaseGapMs, this.pollIntervalMs);
    this.#chaseGapMs = Math.min(this.#chaseGapMs * 2, CHASE_MAX_MS);
    return gap;
  }

  /** Resolves once the head is beyond `position`, or when `signal` aborts. */
  async waitBeyond(position: bigint, signal: AbortSignal): Promise<void> {
    while (this.value <= position && !signal.aborted) await this.#moved.wait(undefined, signal);
  }
}
