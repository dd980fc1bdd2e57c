export { type AgentCommand, type AgentState, agentDecider } from './agent.ts';
export {
  AgentCapacity,
  type AgentEvent,
  AgentLabel,
  AgentName,
  agentStreamId,
  type ImageEvent,
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
  WorkspaceFilePath,
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
  cancelImageBuild,
  deleteImage,
  findImage,
  recordImageBuildFailed,
  recordImageBuilt,
  recordImagePushed,
  recordImagePushFailed,
  requestImageBuild,
  startImageBuild,
  tenantImages,
} from './image-handle.ts';
export { ImageName, ImageRef, ImageTag, imageReferencePattern } from './image-reference.ts';
export {
  type ImagePush,
  type ImagePushFailure,
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
export {
  completeUpload,
  expireUpload,
  failUpload,
  findUpload,
  loadUploads,
  startUpload,
} from './upload-handle.ts';
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
  workspaceIdOfContainer,
} from './workspace.ts';
