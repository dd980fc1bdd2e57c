/**
 * What the command side needs from an event store: read one stream, append to one stream with an
 * expectation. Structural, so any adapter of `eventstore/port.ts` fits without the domain importing it.
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
  /** The request's User-Agent, bounded (see `http/kit/scope.ts`). */
  userAgent?: string;
  /**
   * The two above, sealed with the actor's personal-data key (`privacy/origin.ts`): how an event with
   * an actor stores them, so that erasing the person destroys them too.
   */
  origin?: { $personal: { key: string; sealed: string } };
  /** Schema version of `data` for this event type (1 when absent). */
  schemaVersion?: number;
}

/** An event to append; the caller chooses its id, so a retried append with the same ids is safe. */
export interface NewEvent {
  id: string;
  type: string;
  data: unknown;
  metadata?: EventMetadata;
}

/** An event as stored, with its place in its stream (`revision`) and in the store (`position`). */
export interface StoredEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
  streamId: string;
  revision: number;
  position: bigint;
  recordedAt: Date;
}

/** Anything, no stream yet, an existing stream, or the exact revision of its last event. */
export type ExpectedRevision = 'any' | 'no_stream' | 'exists' | number;

/** The narrow store port of the command side. */
export interface CommandStore {
  readStream(streamId: string, options?: { from?: number; limit?: number }): Promise<StoredEvent[]>;
  append(
    streamId: string,
    events: readonly NewEvent[],
    options?: { expected?: ExpectedRevision },
  ): Promise<{ revision: number; position: bigint }>;
}

/** The store's conflict: the stream's revision was not the expected one, nothing was appended. */
export interface WrongExpectedRevision {
  code: 'ERR_WRONG_EXPECTED_REVISION';
  /** Revision of the stream's last event, or 'no_stream'. */
  actual: number | 'no_stream';
}

/** Recognises the store's conflict by its stable `code` (adapters throw their own error class). */
export function isWrongExpectedRevision(error: unknown): error is WrongExpectedRevision {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === 'ERR_WRONG_EXPECTED_REVISION'
  );
}
