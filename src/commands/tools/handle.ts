import type { CommandContext, CommandResult, CommandStore, Loaded } from '../kernel/index.ts';
import {
  aggregate,
  existsInTenant,
  handleNew,
  isDomainError,
  isWrongExpectedRevision,
  load,
  toNewEvents,
} from '../kernel/index.ts';
import { executionStreamId, targetsStreamId } from './events.ts';
import { type ExecutionCommand, type ExecutionState, executionDecider } from './execution.ts';
import { type TargetsCommand, type TargetsState, targetsDecider } from './targets.ts';

const executions = aggregate({
  decider: executionDecider,
  streamId: executionStreamId,
  what: 'execution',
  visibleTo: existsInTenant,
});

/** One allowlist per tenant, keyed by the tenant id: always the caller's own. */
const allowlists = aggregate({
  decider: targetsDecider,
  streamId: targetsStreamId,
  what: 'targets',
  visibleTo: () => true,
});

/** An execution of the tenant, or undefined: another tenant's execution does not exist for it. */
export function findExecution(
  store: CommandStore,
  tenantId: string,
  executionId: string,
): Promise<{ state: ExecutionState; revision: number; position: bigint } | undefined> {
  return executions.find(store, tenantId, executionId);
}

/**
 * Records a new execution. Its id is new (a random UUID), so the stream is claimed with one append
 * (`no_stream`) instead of a read and an append; should the stream exist after all, the usual load
 * and decide answers (a repeated request decides nothing).
 */
export async function requestExecution(
  store: CommandStore,
  command: Extract<ExecutionCommand, { type: 'RequestExecution' }>,
  context: CommandContext,
): Promise<CommandResult<ExecutionState>> {
  const streamId = executionStreamId(command.executionId);
  const created = await handleNew(store, streamId, executions.decider, command, context);
  return created ?? executions.create(store, command.executionId, command, context);
}

/** A change to an existing execution of the tenant; another tenant's is a 404. */
export function changeExecution(
  store: CommandStore,
  tenantId: string,
  executionId: string,
  command: Exclude<ExecutionCommand, { type: 'RequestExecution' }>,
  context: CommandContext,
): Promise<CommandResult<ExecutionState>> {
  return executions.change(store, tenantId, executionId, command, context);
}

/**
 * A change decided on a state the caller holds (loaded, or returned by its last change) and appended
 * with that revision expected: one round trip instead of a visibility read, a load and the append.
 * When the stream moved meanwhile (a cancel request, a progress report) or the held state refuses the
 * command, it is decided again on the stream as it is now ({@link changeExecution}), so the outcome
 * is the one a fresh load would give.
 */
export async function changeKnownExecution(
  store: CommandStore,
  known: Pick<Loaded<ExecutionState>, 'state' | 'revision'>,
  command: Exclude<ExecutionCommand, { type: 'RequestExecution' }>,
  context: CommandContext,
): Promise<CommandResult<ExecutionState>> {
  const { state, revision } = known;
  const again = () => changeExecution(store, state.tenantId, state.executionId, command, context);
  if (!state.exists || revision < 0) return again();
  let events: ReturnType<typeof executions.decider.decide>;
  try {
    events = executions.decider.decide(command, state);
  } catch (error) {
    if (isDomainError(error)) return again();
    throw error;
  }
  if (events.length === 0) return again();
  try {
    const result = await store.append(
      executionStreamId(state.executionId),
      await toNewEvents(events, context),
      {
        expected: revision,
      },
    );
    return {
      state: events.reduce(executions.decider.evolve, state),
      revision: result.revision,
      position: result.position,
      events,
    };
  } catch (error) {
    if (isWrongExpectedRevision(error)) return again();
    throw error;
  }
}

/** The tenant's allowlist (one stream per tenant, empty until set). */
export async function readTargets(
  store: Pick<CommandStore, 'readStream'>,
  tenantId: string,
): Promise<{ state: TargetsState; revision: number }> {
  const loaded = await load(store, targetsStreamId(tenantId), targetsDecider);
  return { state: loaded.state, revision: loaded.revision };
}

export function setTargets(
  store: CommandStore,
  command: TargetsCommand,
  context: CommandContext,
): Promise<CommandResult<TargetsState>> {
  return allowlists.create(store, command.tenantId, command, context);
}
