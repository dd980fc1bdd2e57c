export {
  fetchAllowed,
  SECRET_SHAPE,
  sweepWorkspaceAccess,
  TICKET_TTL_MS,
  WORKSPACE_COOKIE,
  WorkspaceAccess,
  type WorkspaceGrant,
  workspaceAccessUrl,
} from './access.ts';
export {
  SESSION_ORDER,
  type WorkspaceAccessTable,
  type WorkspaceSessionEntry,
} from './access-sessions.ts';
export { agentCommand } from './agent/index.ts';
export { type AgentHeartbeats, agentHeartbeats } from './agent-heartbeats.ts';
export { type AgentKeys, agentKeys, type KeySealer } from './agent-keys.ts';
export { AgentMonitor, type AgentMonitorOptions } from './agent-monitor.ts';
export {
  type AgentStats,
  type AgentStatsReader,
  type AgentTarget,
  agentStatsReader,
  fetchAgentStats,
} from './agent-stats.ts';
export {
  AGENT_STATS_RETENTION_MS,
  type AgentStatsSample,
  type AgentStatsSamples,
  agentStatsSamples,
  type SampleRound,
  sampleAgentStats,
} from './agent-stats-history.ts';
export {
  AgentCallError,
  type AgentClient,
  type AgentContainer,
  type AgentRegistryAuth,
  agentClient,
  type CreateContainerRequest,
  enrolAgent,
} from './client/agent-client.ts';
export { type AgentUploadProgress, type AgentUploads, agentUploads } from './client/agent-uploads.ts';
export type { ContainerEngine, ContainerInfo, ContainerSpec } from './docker/port.ts';
export { ContainerEngineError } from './docker/port.ts';
export {
  dropImageRegistry,
  type ImageRegistries,
  type ImageRegistry,
  imageRegistries,
  registryHost,
  registryUrlProblem,
  tenantUrlProblem,
} from './image-registries.ts';
export { applyRoutes, NginxConfigError, type NginxTarget } from './nginx/apply.ts';
export { isWorkspaceNginxKey, NGINX_KEY_HEADER, workspaceNginxKey } from './nginx/key.ts';
export {
  type RenderOptions,
  type Route,
  renderRoutes,
  type UnavailableWorkspace,
  unavailablePage,
} from './nginx/render.ts';
export { NginxRouter, type NginxRouterOptions } from './nginx/router.ts';
export { agentAddresses, agentUpstream } from './nginx/upstream.ts';
export { type ReconcileReport, Reconciler, type ReconcilerOptions } from './reconcile.ts';
export { deleteFromRegistry, type RegistryDeletion } from './registry-api.ts';
export { canonicalRequest, SIGNATURE_HEADERS, signatureHeaders, signRequest } from './signing.ts';
export { looksLikeTar } from './tar-header.ts';
export {
  TRAFFIC_RETENTION_MS,
  type TrafficMinute,
  type WorkspaceTraffic,
  workspaceTraffic,
} from './traffic/store.ts';
export { type IngestReport, TrafficTailer, type TrafficTailerOptions } from './traffic/tailer.ts';
export { AgentDataStore, type RecordedUpload } from './uploads/agent-datastore.ts';
export { type UploadExpiry, type UploadExpiryOptions, uploadExpiry } from './uploads/expiry.ts';
