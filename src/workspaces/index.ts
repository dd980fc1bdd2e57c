export { agentApp } from './agent/app.ts';
export { agentCommand } from './agent/cli.ts';
export { type AgentConfig, AgentConfigSchema, checkAgentConfig } from './agent/config.ts';
export {
  AgentCallError,
  type AgentClient,
  type AgentContainer,
  agentClient,
  type CreateContainerRequest,
  enrolAgent,
} from './client/agent-client.ts';
export type { ContainerEngine, ContainerInfo, ContainerSpec } from './docker/port.ts';
export { ContainerEngineError } from './docker/port.ts';
export { canonicalRequest, SIGNATURE_HEADERS, signatureHeaders, signRequest } from './signing.ts';
