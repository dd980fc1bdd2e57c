export { AGENT_API_VERSION, agentApp } from './app.ts';
export { agentCommand } from './cli.ts';
export { type AgentConfig, AgentConfigSchema, checkAgentConfig } from './config.ts';
