export { toolExecutions } from './executions.ts';
export { advisoryLookup, queueExecution, startToolJobs, TOOLS_QUEUE, type ToolJobs } from './jobs.ts';
export { type ExecutionDeps, runExecution, type ToolJobPayload } from './run-execution.ts';
