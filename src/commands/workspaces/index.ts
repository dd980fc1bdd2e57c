export { type AgentCommand, type AgentState, agentDecider } from './agent.ts';
export {
  AgentCapacity,
  type AgentEvent,
  AgentLabel,
  AgentName,
  agentStreamId,
  ImageRef,
  ProvisioningStep,
  quotaStreamId,
  Resources,
  type SlotEvent,
  type WorkspaceEvent,
  WorkspaceStatus,
  type WorkspacesEvent,
  type WorkspacesEventType,
  workspaceStatuses,
  workspaceStreamId,
  workspacesEventSchemas,
  workspacesEventTypes,
} from './events.ts';
export {
  changeWorkspace,
  deregisterAgent,
  findAgent,
  findWorkspace,
  type RequestWorkspaceInput,
  registerAgent,
  releaseWorkspaceSlot,
  requestWorkspace,
} from './handle.ts';
export { type QuotaCommand, type QuotaState, quotaDecider } from './quota.ts';
export {
  containerNameOf,
  type WorkspaceActor,
  type WorkspaceCommand,
  type WorkspaceState,
  workspaceDecider,
} from './workspace.ts';
