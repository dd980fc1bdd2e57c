export { workspaceProvisioning } from './provisioning.ts';
