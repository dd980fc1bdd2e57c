export { type AgentCommand, type AgentState, agentDecider } from './agent.ts';
export {
  AgentCapacity,
  type AgentEvent,
  AgentLabel,
  AgentName,
  agentStreamId,
  type ImageEvent,
  ImageName,
  ImageRef,
  ImageTag,
  imagesStreamId,
  ProvisioningStep,
  quotaStreamId,
  Resources,
  type SettingsEvent,
  Sha256Hex,
  type SlotEvent,
  settingsStreamId,
  type UploadEvent,
  UploadFileName,
  uploadsStreamId,
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
  assertWorkspaceSlotFree,
  changeWorkspace,
  deregisterAgent,
  findAgent,
  findWorkspace,
  loadWorkspaceSettings,
  type RequestWorkspaceInput,
  registerAgent,
  releaseWorkspaceSlot,
  requestWorkspace,
  setWorkspaceLossPolicy,
  setWorkspaceOnApproval,
} from './handle.ts';
export {
  deleteImage,
  findImage,
  recordImageBuildFailed,
  recordImageBuilt,
  recordImagePushed,
  requestImageBuild,
  tenantImages,
} from './image-handle.ts';
export {
  type ImagePush,
  type ImageRecord,
  type ImageStatus,
  type ImagesCommand,
  type ImagesState,
  imagesDecider,
  localRefOf,
  refsOf,
} from './images.ts';
export {
  agentUsageOf,
  type PlacementRequest,
  type QuotaCommand,
  type QuotaState,
  quotaDecider,
  type SlotPlacement,
} from './quota.ts';
export {
  type WorkspaceSettingsCommand,
  type WorkspaceSettingsState,
  workspaceSettingsDecider,
} from './settings.ts';
export { completeUpload, failUpload, findUpload, startUpload } from './upload-handle.ts';
export {
  bytesInFlight,
  type UploadRecord,
  type UploadStatus,
  type UploadsCommand,
  type UploadsState,
  uploadsDecider,
} from './uploads.ts';
export {
  containerNameOf,
  type WorkspaceActor,
  type WorkspaceCommand,
  type WorkspaceState,
  workspaceDecider,
} from './workspace.ts';
