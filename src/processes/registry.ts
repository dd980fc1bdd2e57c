import { tenantSessions, userSessions } from './identity/index.ts';
import { advisoryMonitor, npmTokenIssuers, packagePipeline } from './packages/index.ts';
import type { ProcessManager } from './runtime/index.ts';
import { toolExecutions } from './tools/index.ts';
import { issueRules, projectMemberships } from './tracker/index.ts';
import { workspaceOnApproval, workspaceProvisioning } from './workspaces/index.ts';

/**
 * Every process manager the workers run. Contexts add theirs as they land (package pipeline, issue
 * rules, executions, provisioning); the runtime, leases and checkpoints are already in place.
 */
export const processManagers: readonly ProcessManager[] = [
  issueRules,
  projectMemberships,
  packagePipeline,
  advisoryMonitor,
  userSessions,
  tenantSessions,
  npmTokenIssuers,
  workspaceProvisioning,
  workspaceOnApproval,
  toolExecutions,
];
