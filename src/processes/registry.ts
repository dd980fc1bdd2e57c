import { userSessions } from './identity/user-sessions.ts';
import { advisoryMonitor } from './packages/advisory-monitor.ts';
import { packagePipeline } from './packages/pipeline.ts';
import type { ProcessManager } from './runtime/process-manager.ts';
import { toolExecutions } from './tools/index.ts';
import { issueRules } from './tracker/issue-rules.ts';

/**
 * Every process manager the workers run. Contexts add theirs as they land (package pipeline, issue
 * rules, executions, provisioning); the runtime, leases and checkpoints are already in place.
 */
export const processManagers: readonly ProcessManager[] = [
  issueRules,
  packagePipeline,
  advisoryMonitor,
  userSessions,
  toolExecutions,
];
