import { load } from '../../commands/kernel/index.ts';
import { type ExecutionEvent, executionDecider, executionStreamId } from '../../commands/tools/index.ts';
import type { JobTables } from '../runtime/index.ts';
import { defineProcessManager } from '../runtime/index.ts';
import { queueExecution } from './jobs.ts';

/**
 * Makes sure every queued execution has its job: the route queues it right after recording the
 * execution, and this process manager queues it again on seeing `ExecutionQueued` (the job id is
 * the execution id, so the second queueing adds nothing) — a request that died between the two
 * writes still gets its run. An execution no longer queued (cancelled, or run) is left alone.
 */
export const toolExecutions = defineProcessManager<JobTables, ExecutionEvent>({
  name: 'toolExecutions',
  types: ['ExecutionQueued'],
  startFrom: 'now',
  async handle(event, ctx) {
    if (event.type !== 'ExecutionQueued') return;
    const { executionId, tenantId } = event.data;
    const streamId = executionStreamId(executionId);
    const { state } = await load(ctx.store, streamId, executionDecider);
    if (state.status !== 'queued') return;
    await queueExecution(ctx.db, { executionId, tenantId, streamId });
  },
});
