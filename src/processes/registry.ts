import { issueRules } from './issue-rules.ts';
import { advisoryMonitor } from './package-pipeline/monitor.ts';
import { packagePipeline } from './package-pipeline/process.ts';
import type { ProcessManager } from './process-manager.ts';
import { userSessions } from './user-sessions.ts';

/**
 * Every process manager the workers run. Contexts add theirs as they land (package pipeline, issue
 * rules, executions, provisioning); the runtime, leases and checkpoints are already in place.
 */
export const processManagers: readonly ProcessManager[] = [
  issueRules,
  packagePipeline,
  advisoryMonitor,
  userSessions,
];
