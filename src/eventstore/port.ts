/**
 * The event store port: what every adapter (PostgreSQL/PGlite, EventStoreDB) provides and what the
 * rest of Warden may rely on. The contract suite in `test/contract` proves each adapter against it.
 */

/** Who and what caused an event. The tenant rides here and in every read-model row. */
export interface EventMetadata {
  tenantId?: string;
  actorId?: string;
  correlationId?: string;
  causationId?: string;
  requestId?: string;
  /** The client's address (behind trusted proxies: what the nearest one saw) of the request that caused it. */
  clientAddress?: string;
  /** The request's User-Agent, bounded. */
  userAgent?: string;
  /**
   * The two above, sealed with the actor's personal-data key (`privacy/origin.ts`): how an event with
   * an actor stores them, so that erasing the person destroys them too.
   */
  origin?: { $personal: { key: string; sealed: string } };
  /** Schema version of `data` for this event type (1 when absent). */
  schemaVersion?: number;
}

/** An event to append. `id` is a UUID chosen by the caller: retrying with the same ids is safe. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  metadata?: EventMetadata;
}

/** An event as stored. `revision` counts from 0 within its stream; `position` orders all events. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
  streamId: string;
  revision: number;
  position: bigint;
  recordedAt: Date;
}

/**
 * What the appender believes about the stream: anything, that it does not exist yet, that it exists,
 * or the exact revision of its last event.
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'exists' | number;

export interface AppendOptions {
  expected?: ExpectedRevision;
}

/** Revision and global position of the last event appended (or of the original append, on a retry). */
export interface AppendResult {
  revision: number;
  position: bigint;
}

export interface ReadStreamOptions {
  /** Inclusive revision to start from; default: the start (forwards) or the end (backwards). */
  from?: number | 'start' | 'end';
  direction?: 'forwards' | 'backwards';
  limit?: number;
}

export interface ReadAllOptions {
  /** Exclusive global position; `0n` (the default) reads from the beginning. */
  after?: bigint;
  limit?: number;
  /** Only events of these types. */
  types?: readonly string[];
}

export interface SubscribeOptions {
  /** Exclusive checkpoint to resume after; `0n` (default) catches up from the beginning. */
  after?: bigint;
  types?: readonly string[];
  /** Stops the subscription; the iterator then ends without error. */
  signal?: AbortSignal;
  /** Called each time the subscription has delivered everything stored and turns live. */
  onCaughtUp?: (position: bigint) => void;
  /** Events fetched per catch-up page. */
  batchSize?: number;
}

/** Where an event lies in the log and its type, without its data (see {@link EventStore.readPositions}). */
export interface EventTypeAt {
  position: bigint;
  type: string;
}

/**
 * Hears this store's own appends: called after each one succeeds, with the types it appended and
 * the position of its last event. A reader may not see that position at once (a PostgreSQL reader
 * stops below the oldest running transaction, in any database of the server), so a listener that
 * must see the event polls until it does.
 */
export type AppendListener = (types: readonly string[], position: bigint) => void;

/** The distinct types of `events`, as an {@link AppendListener} is told them. */
export const typesOf = (events: readonly { type: string }[]): string[] => [
  ...new Set(events.map((e) => e.type)),
];

/** The port. Positions are totally ordered and a subscriber never skips one committed later. */
export interface EventStore {
  readonly name: string;
  append(streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Catch up from `after`, then stay live. Ends when `signal` aborts. */
  subscribe(options?: SubscribeOptions): AsyncIterable<RecordedEvent>;
  /** Position of the newest event a reader can see now (`0n` when empty). */
  headPosition(): Promise<bigint>;
  /** Number of visible events after `position` (lag of a checkpoint). */
  countAfter(position: bigint): Promise<number>;
  /**
   * The position and type of each visible event after `after`, in order, at most `limit`: what a
   * watcher of the log's tail reads to tell which readers have something new, without the data.
   */
  readPositions(options: { after: bigint; limit: number }): Promise<EventTypeAt[]>;
  /**
   * Calls `listener` after each append made through this store object (in this process), with the
   * types appended, so in-process readers need not wait for a poll. Returns the unsubscribe.
   */
  onAppend(listener: AppendListener): () => void;
  close(): Promise<void>;
}

/** The stream's actual revision did not match the expectation; nothing was appended. */
export class WrongExpectedRevisionError extends Error {
  readonly code = 'ERR_WRONG_EXPECTED_REVISION' as const;
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    /** Revision of the stream's last event, or 'no_stream'. */
    readonly actual: number | 'no_stream',
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

/** An input the store cannot take, naming it; nothing was read or written. */
export abstract class InvalidStoreInputError extends Error {
  abstract readonly code: 'ERR_INVALID_APPEND' | 'ERR_INVALID_READ';
  constructor(
    /** Which input is wrong: `streamId`, `expected`, `events[3].data`, `from`, `limit`, … */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The caller passed something the store cannot accept; nothing was appended. */
export class InvalidAppendError extends InvalidStoreInputError {
  readonly code = 'ERR_INVALID_APPEND' as const;
  override readonly name = 'InvalidAppendError';
}

/** A read asked for something the store cannot answer (a malformed stream id, revision or page size). */
export class InvalidReadError extends InvalidStoreInputError {
  readonly code = 'ERR_INVALID_READ' as const;
  override readonly name = 'InvalidReadError';
}

export type EventStoreError = WrongExpectedRevisionError | InvalidAppendError | InvalidReadError;

export function isEventStoreError(error: unknown): error is EventStoreError {
  return error instanceof WrongExpectedRevisionError || error instanceof InvalidStoreInputError;
}

/**
 * Thrown by a fast-path append inside a transaction that hit a duplicate id or a revision conflict:
 * the transaction is dead, and the batch must run again with savepoints (`careful`).
 */
export class RetryWithSavepointsError extends Error {
  readonly code = 'ERR_RETRY_WITH_SAVEPOINTS' as const;
  constructor(cause: unknown) {
    super('an append inside the handling transaction failed; retrying the batch with savepoints', { cause });
  }
}

/**
 * The event store bound to one database transaction, so appends commit with it (the PostgreSQL
 * adapter provides one; a store elsewhere has none). `careful`: each append under a savepoint.
 */
export type TransactionBinding<Transaction> = ((trx: Transaction, careful: boolean) => EventStore) & {
  /**
   * Called once a transaction that appended through the binding has committed, with the types it
   * appended and the position of its last append: this process's stores over the same log then tell
   * their `onAppend` listeners (inside the transaction the events were not visible yet).
   */
  committed?: AppendListener;
};
