import type { Kysely } from 'kysely';
import type { CommandResult, Decider, DomainEvent } from '../../commands/kernel/index.ts';
import { deriveId, handle } from '../../commands/kernel/index.ts';
import type {
  AppendResult,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  RecordedEvent,
} from '../../eventstore/port.ts';

/** The few logger methods the runtime uses; a pino logger fits. */
export interface ProcessLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/**
 * A process manager: reacts to events of some types by issuing commands. Its effect is appending
 * events, with ids derived from the causing event, so handling an event again (replay, crash,
 * retry) appends nothing new.
 */
export interface ProcessManager<DB = unknown> {
  /** Named for what it drives, e.g. `packagePipeline`. Also the key of its checkpoints. */
  readonly name: string;
  /** Event types it reacts to; others are never delivered to it. */
  readonly types: readonly string[];
  /**
   * Where a process manager seen for the first time starts: every stored event (`beginning`, the
   * default) or only events appended from now on (`now`, for one added to a store with history).
   */
  readonly startFrom?: 'beginning' | 'now';
  /**
   * Reacts to one event. Runs inside the transaction that advances its checkpoint: appends through
   * `ctx.store` and writes through `ctx.db` commit together with it, or not at all. Use only
   * `ctx.store` / `ctx.db` here (on PGlite another handle would wait for this transaction forever),
   * and do slow work (network) before the first write, which is when the transaction takes an id
   * that holds back every reader of the store until it commits. `prepared` is what `prepare`
   * returned for this event (always given when the process manager has a `prepare`).
   */
  handle(event: RecordedEvent, ctx: ProcessContext<DB>, prepared?: unknown): Promise<void>;
  /**
   * Slow external work for one event (network: an agent's container create/start…), run by the
   * runtime BEFORE the handling transaction opens, so no transaction (on PGlite: the one connection
   * every request needs) is held while it waits. Reads only, through the ordinary pool (`ctx.store`,
   * `ctx.db`); no appends, no writes: effects are recorded by `handle`, which gets the result and
   * runs in the transaction with the checkpoint, so exactly-once still holds for everything stored.
   * The work must be idempotent: a crash, a lost lease or a failed commit after it runs it again
   * for the same event (and a stale result must be refused by `handle`'s own checks, e.g. the
   * decider). A throw is a failure of the event, retried like a throw from `handle`.
   */
  prepare?(event: RecordedEvent, ctx: PrepareContext<DB>): Promise<unknown>;
}

/** What `prepare` gets: reads outside any transaction, no appends. */
export interface PrepareContext<DB = unknown> {
  readonly processName: string;
  /** Reading only (`readStream`, `load`): appends belong in `handle`. */
  readonly store: Pick<EventStore, 'readStream'>;
  /** The ordinary pool, for reads only. */
  readonly db: Kysely<DB>;
  readonly logger: ProcessLogger;
  readonly sealer: Sealer | undefined;
  readonly metadata: EventMetadata;
  id(...parts: readonly (string | number)[]): Promise<string>;
  /**
   * Which attempt at this event this is: 1 the first time, more when it failed before (the runtime
   * retries a failing event, backing off, and the events after it in its partition wait). Work that
   * depends on something outside Warden can give up after a few, recording why, instead of holding
   * the partition (other tenants' events among them) for as long as that thing fails. Absent: 1.
   */
  readonly attempt?: number;
}

export interface EmitOptions {
  /** Distinguishes several emits to the same stream for one event. */
  key?: string | number;
  expected?: ExpectedRevision;
}

export interface IssueOptions {
  /** Distinguishes several commands to the same stream for one event. */
  key?: string | number;
  maxAttempts?: number;
}

/**
 * Seals secrets a handler stores or reads beside the events (agent keys…) with the key-encryption
 * key, which the runtime never sees itself. `context` binds a sealed value to its row.
 */
export interface Sealer {
  seal(plaintext: string, context: string): Promise<string>;
  open(sealed: string, context: string): Promise<string>;
}

/** What a handler gets besides the event. */
export interface ProcessContext<DB = unknown> {
  readonly processName: string;
  /** The event store, bound to the handling transaction where the adapter allows it. */
  readonly store: EventStore;
  /** The handling transaction: rows written here commit with the checkpoint. */
  readonly db: Kysely<DB>;
  readonly logger: ProcessLogger;
  /** The key-encryption key's sealer, when the worker was given one. */
  readonly sealer: Sealer | undefined;
  /** Metadata for events caused by this one: same tenant and correlation, causation = this event. */
  readonly metadata: EventMetadata;
  /** An id derived from (process name, causing event id, parts): the same on every re-handling. */
  id(...parts: readonly (string | number)[]): Promise<string>;
  /** Appends events whose ids derive from the causing event; a repeat appends nothing new. */
  emit(streamId: string, events: readonly DomainEvent[], options?: EmitOptions): Promise<AppendResult>;
  /**
   * Runs a command through the one write path (load → decide → append) with a command id derived
   * from the causing event, so its events' ids are derived too.
   */
  issue<Command, Event extends DomainEvent, State>(
    streamId: string,
    decider: Decider<Command, Event, State>,
    command: Command,
    options?: IssueOptions,
  ): Promise<CommandResult<State>>;
}

/** Builds the context for preparing `event`, outside any transaction (the runtime calls this). */
export function prepareContext<DB>(
  processName: string,
  event: RecordedEvent,
  deps: {
    store: Pick<EventStore, 'readStream'>;
    db: Kysely<DB>;
    logger: ProcessLogger;
    sealer?: Sealer | undefined;
    attempt?: number;
  },
): PrepareContext<DB> {
  return {
    processName,
    attempt: deps.attempt ?? 1,
    store: { readStream: (streamId, options) => deps.store.readStream(streamId, options) },
    db: deps.db,
    logger: deps.logger,
    sealer: deps.sealer,
    metadata: causedBy(processName, event),
    id: (...parts) => deriveId(processName, event.id, ...parts),
  };
}

/** Builds the context for handling `event` (the runtime calls this; tests may too). */
export function processContext<DB>(
  processName: string,
  event: RecordedEvent,
  deps: { store: EventStore; db: Kysely<DB>; logger: ProcessLogger; sealer?: Sealer | undefined },
): ProcessContext<DB> {
  const metadata = causedBy(processName, event);
  const id = (...parts: readonly (string | number)[]) => deriveId(processName, event.id, ...parts);
  return {
    processName,
    store: deps.store,
    db: deps.db,
    logger: deps.logger,
    sealer: deps.sealer,
    metadata,
    id,
    async emit(streamId, events, options = {}) {
      const key = options.key ?? '';
      const ids = await Promise.all(events.map((_, i) => id('emit', streamId, key, i)));
      return deps.store.append(
        streamId,
        events.map((e, i) => ({ id: ids[i]!, type: e.type, data: e.data, metadata })),
        { expected: options.expected ?? 'any' },
      );
    },
    async issue(streamId, decider, command, options = {}) {
      const commandId = await id('issue', streamId, options.key ?? '');
      return handle(deps.store, streamId, decider, command, {
        metadata,
        commandId,
        ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      });
    },
  };
}

function causedBy(processName: string, event: RecordedEvent): EventMetadata {
  const source = event.metadata;
  return {
    ...(source.tenantId === undefined ? {} : { tenantId: source.tenantId }),
    ...(source.requestId === undefined ? {} : { requestId: source.requestId }),
    actorId: `process:${processName}`,
    correlationId: source.correlationId ?? event.id,
    causationId: event.id,
  };
}

/** Any event: the default of a definition that reads no event data. */
type AnyEvent = { type: string; data: unknown };

/** A process manager as its file writes it: typed by its own tables and the events it reacts to. */
export interface ProcessDefinition<DB, E extends AnyEvent, P = never>
  extends Omit<ProcessManager<DB>, 'types' | 'handle' | 'prepare'> {
  /** Event types it reacts to; the runtime delivers no others, which is what makes `E` true. */
  readonly types: readonly E['type'][];
  /** Slow idempotent work outside the transaction (see `ProcessManager.prepare`). */
  prepare?(event: RecordedEvent & E, ctx: PrepareContext<DB>): Promise<P>;
  handle(event: RecordedEvent & E, ctx: ProcessContext<DB>, prepared?: P): Promise<void>;
}

/**
 * Declares a process manager with its own table types for `ctx.db` and its events union for
 * `handle`, and returns it in the form the worker takes:
 * `defineProcessManager<JobTables, PackagesEvent>({ … })`.
 */
export function defineProcessManager<DB = unknown, E extends AnyEvent = AnyEvent, P = never>(
  definition: ProcessDefinition<DB, E, P>,
): ProcessManager {
  // cast: kysely's table map is invariant, and the runtime delivers only events of `types`.
  return definition as unknown as ProcessManager;
}
