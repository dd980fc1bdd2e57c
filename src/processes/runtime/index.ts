export { type CancelWatch, cancelNotices } from './jobs/cancel-notices.ts';
export {
  enqueue,
  JOBS_CHANNEL,
  type Job,
  type JobTables,
  jobNotice,
  type NewJob,
  queueDepth,
} from './jobs/queue.ts';
export { type JobError, JobRunner } from './jobs/runner.ts';
export { wakeOnJobs } from './jobs/wake.ts';
export { partitionOf } from './partition.ts';
export {
  defineProcessManager,
  type EmitOptions,
  type IssueOptions,
  type PrepareContext,
  type ProcessContext,
  type ProcessLogger,
  type ProcessManager,
  prepareContext,
  processContext,
  type Sealer,
} from './process-manager.ts';
export { SingletonLease } from './singleton.ts';
export { jobQueueOf, viewAs } from './tables.ts';
export { startWorkers, Worker, type WorkerOptions, type WorkerStats } from './worker.ts';
export { listPartitions, listWorkers, type PartitionStatus, type WorkerStatus } from './workers.ts';
