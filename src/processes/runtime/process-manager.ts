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
   * that holds back every reader of the store until it commits.
   */
  handle(event: RecordedEvent, ctx: ProcessContext<DB>): Promise<void>;
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
export interface ProcessDefinition<DB, E extends AnyEvent>
  extends Omit<ProcessManager<DB>, 'types' | 'handle'> {
  /** Event types it reacts to; the runtime delivers no others, which is what makes `E` true. */
  readonly types: readonly E['type'][];
  handle(event: RecordedEvent & E, ctx: ProcessContext<DB>): Promise<void>;
}

/**
 * Declares a process manager with its own table types for `ctx.db` and its events union for
 * `handle`, and returns it in the form the worker takes:
 * `defineProcessManager<JobTables, PackagesEvent>({ … })`.
 */
export function defineProcessManager<DB = unknown, E extends AnyEvent = AnyEvent>(
  definition: ProcessDefinition<DB, E>,
): ProcessManager {
  // cast: kysely's table map is invariant, and the runtime delivers only events of `types`.
  return definition as unknown as ProcessManager;
}
