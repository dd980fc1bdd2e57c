import type { Decider, DomainEvent } from './decider.ts';
import { notFound } from './errors.ts';
import { type CommandContext, type CommandResult, handle, type Loaded, load } from './handle.ts';
import type { CommandStore } from './store.ts';

type StreamReader = Pick<CommandStore, 'readStream'>;

/** State that knows whether its entity exists and whose it is. */
export interface TenantOwned {
  exists: boolean;
  tenantId: string;
}

export interface AggregateSpec<Command, Event extends DomainEvent, State> {
  /** The (validated) decider. */
  decider: Decider<Command, Event, State>;
  /** The stream of the entity with this id. */
  streamId: (id: string) => string;
  /** What NOT_FOUND names ("project", "issue", …). */
  what: string;
  /** Whether the entity is there for `tenantId`; another tenant's entity is as if it did not exist. */
  visibleTo: (state: State, tenantId: string) => boolean;
}

export interface Aggregate<Command, Event extends DomainEvent, State> {
  readonly decider: Decider<Command, Event, State>;
  readonly streamId: (id: string) => string;
  /** The entity as `tenantId` may see it, or undefined (absent, removed, another tenant's). */
  /** Reads only: any reader of streams will do (a cache in front of the store, say). */
  find(store: StreamReader, tenantId: string, id: string): Promise<Loaded<State> | undefined>;
  /**
   * Runs a command on the entity's stream without the tenant check: a creation (the decider refuses a
   * duplicate), or a command whose decider checks the tenant itself.
   */
  create(
    store: CommandStore,
    id: string,
    command: Command,
    context: CommandContext,
  ): Promise<CommandResult<State>>;
  /** Runs a command on an entity `tenantId` may see; NOT_FOUND otherwise. */
  change(
    store: CommandStore,
    tenantId: string,
    id: string,
    command: Command,
    context: CommandContext,
  ): Promise<CommandResult<State>>;
}

/** The usual visibility: the entity exists and belongs to the tenant. */
export const existsInTenant = (state: TenantOwned, tenantId: string) =>
  state.exists && state.tenantId === tenantId;

/**
 * One aggregate's find / create / change: the tenant check and NOT_FOUND are written here once,
 * and every write goes through the kernel's `handle` with the aggregate's validated decider.
 */
export function aggregate<Command, Event extends DomainEvent, State>(
  spec: AggregateSpec<Command, Event, State>,
): Aggregate<Command, Event, State> {
  const { decider, streamId, what, visibleTo } = spec;
  const find = async (store: StreamReader, tenantId: string, id: string) => {
    const loaded = await load(store, streamId(id), decider);
    return visibleTo(loaded.state, tenantId) ? loaded : undefined;
  };
  return {
    decider,
    streamId,
    find,
    create: (store, id, command, context) => handle(store, streamId(id), decider, command, context),
    async change(store, tenantId, id, command, context) {
      if (!(await find(store, tenantId, id))) throw notFound(what);
      return handle(store, streamId(id), decider, command, context);
    },
  };
}
