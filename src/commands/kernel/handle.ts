import type { Decider, DomainEvent } from './decider.ts';
import { preconditionFailed } from './errors.ts';
import { deriveId } from './ids.ts';
import {
  type CommandStore,
  type EventMetadata,
  isWrongExpectedRevision,
  type NewEvent,
  type StoredEvent,
} from './store.ts';

export interface CommandContext {
  /** Tenant, actor, request and correlation ids stamped on every event. */
  metadata: EventMetadata;
  /** The revision the caller saw (`If-Match`); a different actual revision is a 412, not a retry. */
  expectedRevision?: number;
  /**
   * Id of this command. When set, event ids are derived from it, so re-running the same command
   * (a retried request, a process manager after a crash) appends nothing new.
   */
  commandId?: string;
  /**
   * Ids of the events, when the caller derived them already (a process manager keeping the ids it
   * has always used); they win over `commandId`.
   */
  eventIds?: readonly string[];
  /** Attempts on a concurrency conflict before giving up (default 5). */
  maxAttempts?: number;
}

export interface CommandResult<State> {
  /** State after the new events (equal to the loaded state when `decide` returned none). */
  state: State;
  /** Revision of the stream's last event (-1 when the stream does not exist). */
  revision: number;
  /** Global position of the last event written, or of the stream's last event if nothing was written. */
  position: bigint;
  events: DomainEvent[];
}

/**
 * Decided events as the store takes them, stamped with the command's metadata. Their ids derive from
 * the command id when there is one (a re-run appends nothing new), and are random otherwise.
 */
export async function toNewEvents(
  events: readonly DomainEvent[],
  context: Pick<CommandContext, 'metadata' | 'commandId' | 'eventIds'>,
): Promise<NewEvent[]> {
  const { commandId, eventIds } = context;
  const ids = await Promise.all(
    events.map((_, i) => eventIds?.[i] ?? (commandId ? deriveId(commandId, i) : crypto.randomUUID())),
  );
  return events.map((event, i) => ({
    id: ids[i]!,
    type: event.type,
    data: event.data,
    metadata: context.metadata,
  }));
}

/** A stream folded into state, with the revision and position of its last event. */
export interface Loaded<State> {
  state: State;
  /** -1 when the stream does not exist. */
  revision: number;
  position: bigint;
  /** The events this load read: all of the stream's, or those after a kept snapshot's (`Decider.snapshots`). */
  events: StoredEvent[];
}

interface Snapshot {
  decider: object;
  state: unknown;
  revision: number;
  position: bigint;
}

/**
 * States folded from whole streams that a reader handed out frozen (`streamCache` keeps its streams
 * so), per decider: such an array never changes, so neither does its fold, and a hot read (the caller
 * on `GET /v1/me`, the client on every introspection) skips folding it again. Held weakly by the
 * array: a state lives no longer than the cached events it came from (a personal-data erasure drops
 * those, and with them the decrypted state).
 */
const folds = new WeakMap<readonly StoredEvent[], Map<object, Loaded<unknown>>>();

/** Streams whose state is kept per store object (a store bound to one transaction keeps its own). */
const SNAPSHOT_STREAMS = 1000;
const snapshots = new WeakMap<object, Map<string, Snapshot>>();

/** The store's kept states, least recently loaded first (a Map keeps insertion order). */
function snapshotsOf(store: object): Map<string, Snapshot> {
  let kept = snapshots.get(store);
  if (!kept) {
    kept = new Map();
    snapshots.set(store, kept);
  }
  return kept;
}

function keep(kept: Map<string, Snapshot>, streamId: string, snapshot: Snapshot): void {
  // A concurrent load or command may have kept a later state already: the later one stays.
  const known = kept.get(streamId);
  if (known && known.decider === snapshot.decider && known.revision > snapshot.revision) return;
  kept.delete(streamId);
  kept.set(streamId, snapshot);
  if (kept.size > SNAPSHOT_STREAMS) kept.delete(kept.keys().next().value as string);
}

/**
 * Loads a stream and folds it, returning the state with its revision and last position. A decider
 * with `snapshots` starts from the state this store last loaded or appended for the stream and reads
 * only later events (a stream's events never change; a later revision is appended after the earlier
 * commits). Still correct with other processes appending: the store is always asked, only from
 * further on.
 */
export async function load<Event extends DomainEvent, State>(
  store: Pick<CommandStore, 'readStream'>,
  streamId: string,
  decider: Pick<Decider<unknown, Event, State>, 'initialState' | 'evolve' | 'snapshots'>,
): Promise<Loaded<State>> {
  const kept = decider.snapshots ? snapshotsOf(store) : undefined;
  const snapshot = kept?.get(streamId);
  const from = snapshot?.decider === decider ? snapshot : undefined;
  let state = from ? (from.state as State) : decider.initialState();
  let revision = from?.revision ?? -1;
  let position = from?.position ?? 0n;
  const all: StoredEvent[] = [];
  for (;;) {
    const page = await store.readStream(streamId, { from: revision + 1, limit: 5000 });
    // A whole stream handed out frozen (a cache in front of the store) folds the same every time.
    const whole = !kept && revision === -1 && page.length < 5000 && Object.isFrozen(page);
    if (whole) {
      const folded = folds.get(page)?.get(decider);
      if (folded) return { ...(folded as Loaded<State>), events: [...page] };
    }
    for (const event of page) {
      // cast: a stored event of this stream is one of the decider's events (the store keeps no types).
      state = decider.evolve(state, event as DomainEvent as Event);
      revision = event.revision;
      position = event.position;
      all.push(event);
    }
    if (whole) {
      let byDecider = folds.get(page);
      if (!byDecider) {
        byDecider = new Map();
        folds.set(page, byDecider);
      }
      byDecider.set(decider, { state, revision, position, events: [] });
    }
    if (page.length < 5000) break;
  }
  if (kept && revision >= 0) keep(kept, streamId, { decider, state, revision, position });
  return { state, revision, position, events: all };
}

/**
 * The state this store kept for the stream (a decider with `snapshots`), when a command may decide on
 * it without reading: the caller's `If-Match`, if any, names its revision.
 */
function keptState<State>(
  store: object,
  streamId: string,
  decider: { snapshots?: boolean },
  expectedRevision: number | undefined,
): Loaded<State> | undefined {
  if (!decider.snapshots) return undefined;
  const kept = snapshots.get(store)?.get(streamId);
  if (!kept || kept.decider !== decider) return undefined;
  if (expectedRevision !== undefined && expectedRevision !== kept.revision) return undefined;
  return { state: kept.state as State, revision: kept.revision, position: kept.position, events: [] };
}

/**
 * The one write path: load → pure `decide` → append with the expected revision. A conflict with a
 * concurrent writer reloads and decides again (bounded); a conflict with the caller's `If-Match`
 * is a 412. A command that decides nothing appends nothing.
 *
 * A decider with `snapshots` first decides on the state this store kept, without reading the stream:
 * the append expects the kept revision, so it lands only if nothing was appended since, and a stream
 * that moved on is a conflict like any other (read, decide again). That saves the read on the common
 * path, a round trip per command. A decision of nothing, or a refusal, is never answered from the kept
 * state: the stream may have moved on to where the command does something, so it is read first.
 */
export async function handle<Command, Event extends DomainEvent, State>(
  store: CommandStore,
  streamId: string,
  decider: Decider<Command, Event, State>,
  command: Command,
  context: CommandContext,
): Promise<CommandResult<State>> {
  const maxAttempts = context.maxAttempts ?? 5;
  // The kept state gets one try of its own: a stale one costs none of the bounded attempts.
  let kept = keptState<State>(store, streamId, decider, context.expectedRevision);
  for (let attempt = 1; ; ) {
    let loaded = kept;
    kept = undefined;
    let events: Event[] = [];
    if (loaded) {
      try {
        events = decider.decide(command, loaded.state);
      } catch {
        // Refused on the kept state: decided again on the stream's own.
      }
      if (events.length === 0) loaded = undefined;
    }
    const fromKept = loaded !== undefined;
    if (!loaded) {
      loaded = await load(store, streamId, decider);
      if (context.expectedRevision !== undefined && context.expectedRevision !== loaded.revision) {
        throw preconditionFailed(loaded.revision);
      }
      events = decider.decide(command, loaded.state);
      if (events.length === 0) {
        return { state: loaded.state, revision: loaded.revision, position: loaded.position, events };
      }
    }
    try {
      const result = await store.append(streamId, await toNewEvents(events, context), {
        expected: loaded.revision < 0 ? 'no_stream' : loaded.revision,
      });
      const state = events.reduce(decider.evolve, loaded.state);
      if (decider.snapshots) {
        // The new events directly follow the loaded ones: kept folded in, not read back next time.
        keep(snapshotsOf(store), streamId, { decider, state, ...result });
      }
      return { state, revision: result.revision, position: result.position, events };
    } catch (error) {
      if (!isWrongExpectedRevision(error)) throw error;
      if (context.expectedRevision !== undefined) {
        throw preconditionFailed(typeof error.actual === 'number' ? error.actual : -1);
      }
      if (fromKept) continue;
      if (attempt >= maxAttempts) throw error;
      attempt++;
    }
  }
}

/**
 * Creation that claims a new stream: decide on the initial state, append with `no_stream`. Returns
 * undefined when the stream exists already (someone else claimed it, or an earlier run did and this
 * is not a retry with the same event ids) and appends nothing then; the caller moves on. Used where the
 * stream's existence is the claim (an issue number, a package received once per tenant).
 */
export async function handleNew<Command, Event extends DomainEvent, State>(
  store: Pick<CommandStore, 'append'>,
  streamId: string,
  decider: Decider<Command, Event, State>,
  command: Command,
  context: CommandContext,
): Promise<CommandResult<State> | undefined> {
  const initial = decider.initialState();
  const events = decider.decide(command, initial);
  if (events.length === 0) return { state: initial, revision: -1, position: 0n, events };
  try {
    const result = await store.append(streamId, await toNewEvents(events, context), {
      expected: 'no_stream',
    });
    return { state: events.reduce(decider.evolve, initial), ...result, events };
  } catch (error) {
    if (isWrongExpectedRevision(error)) return undefined;
    throw error;
  }
}
