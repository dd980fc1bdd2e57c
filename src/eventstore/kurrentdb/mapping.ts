/**
 * Pure translations between Warden's event store port and `@kurrent/kurrentdb-client` 1.3.1: positions,
 * expected revisions, errors and events. No I/O here, so every rule is unit-tested without a server.
 */
import { createHash } from 'node:crypto';
import {
  ANY,
  type AppendStreamState,
  ErrorType,
  type AppendResult as EsdbAppendResult,
  type RecordedEvent as EsdbRecordedEvent,
  type EventData,
  jsonEvent,
  NO_STREAM,
  type Position,
  type ReadPosition,
  START,
  STREAM_EXISTS,
} from '@kurrent/kurrentdb-client';
import {
  type EventMetadata,
  type ExpectedRevision,
  InvalidAppendError,
  type RecordedEvent,
  WrongExpectedRevisionError,
} from '../port.ts';
import type { ValidAppend } from '../validate.ts';

/**
 * An `$all` position this adapter cannot express as one number: the event was written by a legacy
 * explicit transaction (commit ≠ prepare), or the server did not report a position (servers before
 * 22.6 leave it out of stream reads).
 */
export class EventStoreDbPositionError extends Error {
  readonly code = 'ERR_ESDB_POSITION' as const;
  constructor(message: string) {
    super(message);
    this.name = 'EventStoreDbPositionError';
  }
}

/** What older servers put in a position they do not know (UInt64.MaxValue). */
const UNKNOWN_POSITION = 2n ** 64n - 1n;

/**
 * The global position of an ESDB event as one bigint: its commit position.
 *
 * Every event appended over gRPC is an implicitly committed prepare record, and the server reports it
 * in `$all` as `{ commit: logPosition, prepare: logPosition }` (AllReader builds
 * `CommitEventRecord(eventRecord, prepare.LogPosition)`). Log positions are byte offsets in the
 * transaction log, so the number is strictly increasing along `$all`, sparse, and far below 2^63.
 * Events of legacy explicit transactions (TCP API, removed in 24.2) share one commit position with
 * `prepare < commit`; one number cannot order them, so they are refused loudly instead of mis-ordered.
 */
export function toGlobalPosition(position: Position | undefined, what = 'event'): bigint {
  if (position === undefined || position.commit === UNKNOWN_POSITION || position.commit < 0n) {
    throw new EventStoreDbPositionError(
      `${what} has no $all position; EventStoreDB/KurrentDB 22.6 or later reports it on every read`,
    );
  }
  if (position.commit !== position.prepare) {
    throw new EventStoreDbPositionError(
      `${what} has commit ${position.commit} ≠ prepare ${position.prepare} (written by an explicit ` +
        'transaction); this adapter only reads events written by single appends',
    );
  }
  return position.commit;
}

/** The ESDB position of a global position produced by {@link toGlobalPosition}. */
export function toEsdbPosition(position: bigint): Position {
  return { commit: position, prepare: position };
}

/**
 * Where to start reading `$all` for an exclusive `after`: the start, or the event at `after` itself
 * (ESDB reads are inclusive there; callers skip positions ≤ `after`).
 */
export function readStartFor(after: bigint): ReadPosition {
  return after > 0n ? toEsdbPosition(after) : START;
}

export function toEsdbExpected(expected: ExpectedRevision): AppendStreamState {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'exists':
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
}

/** `nextExpectedRevision` / `actualState` as the port's actual revision. */
export function toActualRevision(current: bigint | string | undefined): number | 'no_stream' {
  if (typeof current !== 'bigint' || current < 0n) return 'no_stream';
  return Number(current);
}

interface ClientErrorShape {
  type?: unknown;
  /** The stream's revision when an append's expectation failed (`actualVersion` before the rename). */
  actualState?: bigint | string;
  maxAppendSize?: number;
}

/**
 * The port's typed error for a failed append, or the client's error unchanged. Matches on the
 * client's stable `type` string rather than `instanceof`, so two copies of the client still match.
 */
export function mapAppendError(error: unknown, valid: Pick<ValidAppend, 'streamId' | 'expected'>): unknown {
  const e = (typeof error === 'object' && error !== null ? error : {}) as ClientErrorShape;
  if (e.type === ErrorType.WRONG_EXPECTED_VERSION) {
    return new WrongExpectedRevisionError(valid.streamId, valid.expected, toActualRevision(e.actualState));
  }
  if (e.type === ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED) {
    return new InvalidAppendError(
      'events',
      `exceed the server's maximum append size (${e.maxAppendSize ?? '?'} bytes; raise MaxAppendSize)`,
    );
  }
  return error;
}

/** Errors after which repeating the same append (same event ids) is safe and may succeed. */
export function isRetryableAppendError(error: unknown): boolean {
  const type = (error as ClientErrorShape | undefined)?.type;
  return type === ErrorType.DEADLINE_EXCEEDED || type === ErrorType.TIMEOUT || type === ErrorType.UNAVAILABLE;
}

export function isWrongExpectedVersion(error: unknown): boolean {
  return (error as ClientErrorShape | undefined)?.type === ErrorType.WRONG_EXPECTED_VERSION;
}

/**
 * Revision and, when the server reported one, position of an append. Servers report the last event's
 * log position (the commit ack of the prepare that ends the implicit transaction); on an idempotent
 * retry, current servers report the original last event's position and older ones none, so
 * `undefined` means "look it up".
 */
export function appendResultOf(result: EsdbAppendResult): { revision: number; position?: bigint } {
  const revision = Number(result.nextExpectedRevision);
  const commit = result.position?.commit;
  return commit === undefined || commit < 0n || commit === UNKNOWN_POSITION
    ? { revision }
    : { revision, position: commit };
}

/**
 * A validated event as the client's JSON event. The data goes as `application/json` (so projections,
 * the UI and other clients see JSON); the client serialises objects itself, so the validated text is
 * parsed back: what is sent is exactly what was validated, whatever the caller does to its objects
 * meanwhile. ESDB's own `$correlationId`/`$causationId` are added so `$by_correlation_id` works.
 */
export function toEsdbEvent(event: ValidAppend['events'][number]): EventData {
  const metadata = JSON.parse(event.metadata) as Record<string, unknown>;
  const esdbMetadata: Record<string, unknown> = { ...metadata };
  if (typeof metadata.correlationId === 'string') esdbMetadata.$correlationId = metadata.correlationId;
  if (typeof metadata.causationId === 'string') esdbMetadata.$causationId = metadata.causationId;
  return jsonEvent({
    id: event.id,
    type: event.type,
    // The client's JSONType is narrower than JSON; it stringifies whatever it is given.
    data: JSON.parse(event.data) as Record<string, unknown>,
    metadata: esdbMetadata,
  });
}

/** The port's metadata from what {@link toEsdbEvent} stored (or what another writer stored). */
export function fromEsdbMetadata(metadata: unknown): EventMetadata {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return {};
  if (metadata instanceof Uint8Array) return {};
  const out: Record<string, unknown> = { ...metadata };
  if (out.$correlationId === out.correlationId) delete out.$correlationId;
  if (out.$causationId === out.causationId) delete out.$causationId;
  return out as EventMetadata;
}

/**
 * System records are not Warden events: streams beginning with `$` (`$stats-…`, `$ce-…` links,
 * projection state, metadata `$$…`) and event types beginning with `$` (links `$>`, tombstones, this
 * adapter's id reservations). Warden refuses both prefixes on append, so nothing of its own is hidden.
 */
export function isSystemEvent(event: { streamId: string; type: string }): boolean {
  return event.streamId.startsWith('$') || event.type.startsWith('$');
}

/** An ESDB event as the port's recorded event. Non-JSON payloads (other writers) stay bytes. */
export function toRecordedEvent(event: EsdbRecordedEvent): RecordedEvent {
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: fromEsdbMetadata(event.metadata),
    streamId: event.streamId,
    revision: Number(event.revision),
    position: toGlobalPosition(event.position, `event ${event.id} in ${event.streamId}`),
    recordedAt: event.created,
  };
}

/** A server-side event-type filter matching exactly these types (.NET regex, anchored). */
export function typesRegex(types: readonly string[]): string {
  return `^(?:${types.map((t) => t.replace(/[\\^$.|?*+()[\]{}#\s-]/g, (c) => `\\${c}`)).join('|')})$`;
}

/**
 * `@kurrent/kurrentdb-client` 1.3.1 reads `kurrentdb://` (and `kurrent://`, `kdb://`); it still takes
 * the older `esdb://` / `esdb+discover://` but prints a deprecation warning on the console for each
 * client, bypassing the logger. Same shape, so the old scheme is rewritten to the new one.
 */
export function normaliseConnectionString(url: string): string {
  return url.replace(/^esdb(\+discover)?:\/\//i, (_, discover: string | undefined) =>
    discover ? 'kurrentdb+discover://' : 'kurrentdb://',
  );
}

/** Stream holding the single reservation of an event id (see the store's `uniqueEventIds`). */
export const RESERVATION_STREAM_PREFIX = 'warden-event-id-';
/** `$`-typed, so every `$all` reader here skips it like other system records. */
export const RESERVATION_TYPE = '$warden.event-id-reserved';

/**
 * The id of the reservation event binding `eventId` to `streamId`: a name-based (v5) UUID, so a retry
 * for the same stream is an idempotent append and a reservation for any other stream conflicts.
 */
export function reservationEventId(streamId: string, eventId: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex'))
    .update(`warden.event-id\u001f${streamId}\u001f${eventId.toLowerCase()}`)
    .digest()
    .subarray(0, 16);
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
