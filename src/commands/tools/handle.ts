import type { CommandContext, CommandResult, CommandStore } from '../kernel/index.ts';
import { aggregate, existsInTenant, load } from '../kernel/index.ts';
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

export function requestExecution(
  store: CommandStore,
  command: Extract<ExecutionCommand, { type: 'RequestExecution' }>,
  context: CommandContext,
): Promise<CommandResult<ExecutionState>> {
  return executions.create(store, command.executionId, command, context);
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
