export { workspaceOnApproval } from './on-approval.ts';
export { workspaceProvisioning } from './provisioning.ts';
