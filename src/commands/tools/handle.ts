import { notFound } from '../kernel/errors.ts';
import { type CommandContext, type CommandResult, handle, load } from '../kernel/handle.ts';
import { executionStreamId, targetsStreamId } from './events.ts';
import { type ExecutionCommand, type ExecutionState, executionDecider } from './execution.ts';
import { type TargetsCommand, type TargetsState, targetsDecider } from './targets.ts';

/** The event store as the kernel takes it (the domain names no adapter). */
type EventStore = Parameters<typeof load>[0];

/** An execution of the tenant, or undefined: another tenant's execution does not exist for it. */
export async function findExecution(
  store: EventStore,
  tenantId: string,
  executionId: string,
): Promise<{ state: ExecutionState; revision: number; position: bigint } | undefined> {
  const loaded = await load(store, executionStreamId(executionId), executionDecider);
  if (!loaded.state.exists || loaded.state.tenantId !== tenantId) return undefined;
  return { state: loaded.state, revision: loaded.revision, position: loaded.position };
}

export function requestExecution(
  store: EventStore,
  command: Extract<ExecutionCommand, { type: 'RequestExecution' }>,
  context: CommandContext,
): Promise<CommandResult<ExecutionState>> {
  return handle(store, executionStreamId(command.executionId), executionDecider, command, context);
}

/** A change to an existing execution of the tenant; another tenant's is a 404. */
export async function changeExecution(
  store: EventStore,
  tenantId: string,
  executionId: string,
  command: Exclude<ExecutionCommand, { type: 'RequestExecution' }>,
  context: CommandContext,
): Promise<CommandResult<ExecutionState>> {
  if (!(await findExecution(store, tenantId, executionId))) throw notFound('execution');
  return handle(store, executionStreamId(executionId), executionDecider, command, context);
}

export async function readTargets(
  store: EventStore,
  tenantId: string,
): Promise<{ state: TargetsState; revision: number }> {
  const loaded = await load(store, targetsStreamId(tenantId), targetsDecider);
  return { state: loaded.state, revision: loaded.revision };
}

export function setTargets(
  store: EventStore,
  command: TargetsCommand,
  context: CommandContext,
): Promise<CommandResult<TargetsState>> {
  return handle(store, targetsStreamId(command.tenantId), targetsDecider, command, context);
}
