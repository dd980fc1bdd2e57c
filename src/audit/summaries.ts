import { identityEventTypes } from '../commands/identity/index.ts';
import { toStorableText } from '../commands/kernel/index.ts';
import { packagesEventTypes } from '../commands/packages/index.ts';
import { tenancyEventTypes, tenantDomainEventTypes } from '../commands/tenancy/index.ts';
import { toolsEventTypes } from '../commands/tools/index.ts';
import { trackerEventTypes } from '../commands/tracker/index.ts';
import { workspacesEventTypes } from '../commands/workspaces/index.ts';
import type { RecordedEvent } from '../eventstore/port.ts';
import { loginEventSchemas, tokenFamilyEventSchemas } from '../identity/index.ts';
import { oauthSummaries } from '../oauth/index.ts';
import { npmTokenSummaries } from '../packages/index.ts';

type Summary = (data: Record<string, unknown>, event: RecordedEvent) => string;

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
/** ` (2 CPUs, 1024 MB)`, from a workspace's resources. */
const resources = (value: unknown) =>
  ` (${f(record(value), 'cpus')} CPUs, ${f(record(value), 'memoryMb')} MB)`;
/** `, capacity 4 CPUs, 8192 MB, 10 workspaces`, from an agent's capacity. */
const capacity = (value: unknown) =>
  `, capacity ${f(record(value), 'cpus')} CPUs, ${f(record(value), 'memoryMb')} MB, ${f(record(value), 'workspaces')} workspaces`;

/** A field of the event's data as text (`?` when missing: the summary never throws). */
const f = (data: Record<string, unknown>, key: string): string => {
  const value = data[key];
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : '?';
};

/**
 * One human sentence per event type: who or what changed, never a secret (no password hash, no
 * token) and never a person's data (no email, no name: people are named by their user id). The
 * summaries are stored in `audit_entries`, which erasure does not rewrite, so they must not hold
 * what an erasure has to remove. A type missing here is summarised by its name.
 */
export const summaries: Readonly<Record<string, Summary>> = {
  ...oauthSummaries,
  ...npmTokenSummaries,
  TenantCreated: (d) => `Tenant "${f(d, 'slug')}" created (${f(d, 'name')}, plan ${f(d, 'plan')})`,
  TenantRenamed: (d) => `Tenant renamed to "${f(d, 'name')}"`,
  TenantPlanChanged: (d) => `Tenant plan changed from ${f(d, 'from')} to ${f(d, 'to')}`,
  TenantSuspended: (d) => `Tenant suspended: ${f(d, 'reason')}`,
  TenantReactivated: () => 'Tenant reactivated',
  TenantDeleted: () => 'Tenant deleted',
  TenantLimitsOverridden: (d) => {
    const limits = d.limits && typeof d.limits === 'object' ? Object.entries(d.limits) : [];
    return limits.length === 0
      ? 'Tenant limits reset to its plan'
      : `Tenant limits overridden: ${limits.map(([k, v]) => `${k} ${v === null ? 'unlimited' : String(v)}`).join(', ')}`;
  },
  TenantDomainAdded: (d) =>
    `Custom domain ${f(d, 'domain')} claimed (pending until TXT _warden-challenge.${f(d, 'domain')} is verified)`,
  TenantDomainVerified: (d) =>
    `Custom domain ${f(d, 'domain')} verified through TXT _warden-challenge.${f(d, 'domain')}: it now serves the tenant`,
  TenantDomainRemoved: (d) => `Custom domain ${f(d, 'domain')} removed`,
  UserRegistered: (d) =>
    `User ${f(d, 'userId')} registered as ${f(d, 'role')} (${f(d, 'status').replaceAll('_', ' ')})`,
  UserApproved: (d) => `User ${f(d, 'userId')} approved`,
  UserRejected: (d) => `User ${f(d, 'userId')} rejected`,
  UserRoleChanged: (d) => `User ${f(d, 'userId')} role changed from ${f(d, 'from')} to ${f(d, 'to')}`,
  UserRemoved: (d) => `User ${f(d, 'userId')} removed`,
  UserPasswordRehashed: (d) => `Password hash of user ${f(d, 'userId')} upgraded`,
  EmailVerificationRequested: (d) =>
    `Email verification link for user ${f(d, 'userId')} sent (valid until ${f(d, 'expiresAt')})`,
  EmailVerified: (d) => `User ${f(d, 'userId')} verified their email`,
  PasswordChanged: (d) => `User ${f(d, 'userId')} changed their password`,
  PasswordResetRequested: (d) =>
    `Password reset link for user ${f(d, 'userId')} sent (asked by ${f(d, 'by')}, valid until ${f(d, 'expiresAt')})`,
  PasswordReset: (d) => `User ${f(d, 'userId')} reset their password with a reset link`,
  PasswordResetByAdmin: (d) =>
    `Temporary password of user ${f(d, 'userId')} set by ${f(d, 'by')} (to be changed at next sign-in)`,
  PersonalDataErased: (d) => `Personal data of user ${f(d, 'userId')} erased by ${f(d, 'by')}`,
  SignupPolicySet: (d) => `Sign-up policy set to ${f(d, 'policy')}`,
  SeatClaimed: (d) => `Seat claimed by user ${f(d, 'userId')}`,
  SeatReleased: (d) => `Seat released by user ${f(d, 'userId')}`,
  OwnershipClaimed: (d) => `User ${f(d, 'userId')} became an owner`,
  OwnershipReleased: (d) => `User ${f(d, 'userId')} is no longer an owner`,
  EmailClaimed: (d) => `Email claim ${f(d, 'claimId')} taken by user ${f(d, 'userId')}`,
  EmailReleased: (d) => `Email claim ${f(d, 'claimId')} released by user ${f(d, 'userId')}`,
  LoginLockedOut: (d) =>
    `Sign-ins of account ${f(d, 'account')} locked until ${f(d, 'lockedUntil')} after repeated failures`,
  UsernameSet: (d) => `User ${f(d, 'userId')} set their username (claim ${f(d, 'claimId')})`,
  UsernameClaimed: (d) => `Username claim ${f(d, 'claimId')} taken by user ${f(d, 'userId')}`,
  UsernameReleased: (d) => `Username claim ${f(d, 'claimId')} released by user ${f(d, 'userId')}`,
  TokenFamilyIssued: (d) => `Sign-in session ${f(d, 'familyId')} started for user ${f(d, 'userId')}`,
  TokenFamilyRotated: (d) =>
    `Sign-in session ${f(d, 'familyId')} refreshed (generation ${f(d, 'generation')})`,
  TokenFamilyRevoked: (d) =>
    `Sign-in session ${f(d, 'familyId')} revoked (${f(d, 'reason').replaceAll('_', ' ')})`,
  SigningKeyRotated: (d) => `Signing key ${f(d, 'activated')} activated`,
  ProjectCreated: (d) => `Project ${f(d, 'key')} created (${f(d, 'name')}), led by user ${f(d, 'leadId')}`,
  ProjectRenamed: (d) => `Project renamed to "${f(d, 'name')}"`,
  ProjectDescribed: () => 'Project description changed',
  ProjectLabelsChanged: () => 'Project labels changed',
  ProjectArchived: () => 'Project archived',
  ProjectMemberAdded: (d) => `User ${f(d, 'userId')} added to the project as ${f(d, 'role')}`,
  ProjectMemberRoleChanged: (d) =>
    `Project role of user ${f(d, 'userId')} changed from ${f(d, 'from')} to ${f(d, 'to')}`,
  ProjectMemberRemoved: (d) =>
    `User ${f(d, 'userId')} removed from the project${d.reason === 'member_left_tenant' ? ' (left the tenant)' : ''}`,
  IssueCreated: (d) => `Issue ${f(d, 'key')} created: ${f(d, 'title')}`,
  IssueEdited: (d) => {
    const changes = d.changes;
    const fields = typeof changes === 'object' && changes !== null ? Object.keys(changes) : [];
    return `Issue edited${fields.length > 0 ? ` (${fields.join(', ')})` : ''}`;
  },
  IssueAssigned: (d) => `Issue assigned to user ${f(d, 'assigneeId')}`,
  IssueUnassigned: (d) => `Issue unassigned (${f(d, 'reason').replaceAll('_', ' ')})`,
  IssueStatusChanged: (d) => {
    const resolution = typeof d.resolution === 'string' ? ` as ${d.resolution.replaceAll('_', ' ')}` : '';
    return `Issue moved from ${f(d, 'from')} to ${f(d, 'to')}${resolution}`;
  },
  CommentAdded: (d) => `Comment ${f(d, 'commentId')} added`,
  CommentEdited: (d) => `Comment ${f(d, 'commentId')} edited`,
  CommentDeleted: (d) => `Comment ${f(d, 'commentId')} deleted`,
  IssueDeleted: (d) => `Issue ${f(d, 'issueId')} deleted`,
  IssueRestored: (d) => `Issue ${f(d, 'issueId')} restored`,
  SavedFilterCreated: (d) => `Saved filter ${f(d, 'filterId')} created (${f(d, 'target')})`,
  SavedFilterDeleted: (d) => `Saved filter ${f(d, 'filterId')} deleted`,
  PackageRequestSubmitted: (d) => {
    const count = Array.isArray(d.packages) ? d.packages.length : 0;
    const refused = Array.isArray(d.rejected) ? d.rejected.length : 0;
    const format = typeof d.lockfileFormat === 'string' ? d.lockfileFormat : 'package-lock';
    return `Package request submitted: ${format} v${f(d, 'lockfileVersion')}, ${count} packages${refused > 0 ? `, ${refused} unsupported sources refused` : ''}`;
  },
  PackageRequestCounted: (d) =>
    `Package request ${f(d, 'requestId')} counted against ${f(d, 'month')}'s limit (${d.limit === null ? 'unlimited' : f(d, 'limit')})`,
  PackageReceived: (d) => `Package ${f(d, 'spec')} received`,
  PackageRequestLinked: (d) => `Package ${f(d, 'spec')} named by request ${f(d, 'requestId')}`,
  PackageProcessingStarted: (d) => `Package ${f(d, 'spec')}: checks started (attempt ${f(d, 'attempt')})`,
  LicenseChecked: (d) => `Package ${f(d, 'spec')}: license ${f(d, 'expression')} ${f(d, 'verdict')}`,
  PackageDownloaded: (d) => `Package ${f(d, 'spec')} downloaded (${f(d, 'size')} bytes, integrity verified)`,
  PackageScanned: (d) => {
    const count = Array.isArray(d.findings) ? d.findings.length : 0;
    return `Package ${f(d, 'spec')} scanned: ${count === 0 ? 'no findings' : `${count} findings`}`;
  },
  ApprovalRequired: (d) =>
    `Package ${f(d, 'spec')} awaits approval (${Array.isArray(d.reasons) ? d.reasons.join(', ') : '?'})`,
  PackageAutoApproved: (d) => `Package ${f(d, 'spec')} approved by policy v${f(d, 'policyVersion')}`,
  PackageApproved: (d) => `Package ${f(d, 'spec')} approved by ${f(d, 'by')}: ${f(d, 'reason')}`,
  PackageRejected: (d) =>
    `Package ${f(d, 'spec')} rejected (${f(d, 'code').replaceAll('_', ' ')}): ${f(d, 'reason')}`,
  FindingWaived: (d) => `Finding ${f(d, 'findingId')} on ${f(d, 'spec')} waived until ${f(d, 'expiresAt')}`,
  FindingDiscovered: (d) => {
    const finding = d.finding as Record<string, unknown> | undefined;
    return `New finding on ${f(d, 'spec')}: ${finding ? f(finding, 'id') : '?'}`;
  },
  PackagePublishing: (d) => `Package ${f(d, 'spec')} publishing (attempt ${f(d, 'attempt')})`,
  PackagePublished: (d) => `Package ${f(d, 'spec')} published to ${f(d, 'registry')}`,
  PackageFailed: (d) =>
    `Package ${f(d, 'spec')} failed at ${f(d, 'stage')} (${f(d, 'code')}${d.retryable === true ? ', retryable' : ''})`,
  PackageRetried: (d) => `Package ${f(d, 'spec')} sent back to the pipeline by ${f(d, 'by')}`,
  PackagePolicySet: (d) => `Package policy set to version ${f(d, 'version')}`,
  ExecutionQueued: (d) =>
    `Tool ${f(d, 'toolId')} queued by ${f(d, 'actorId')}${d.target ? ` against ${f(d, 'target')} (${f(d, 'address')})` : ''}`,
  ExecutionStarted: (d) => `Tool execution started on ${f(d, 'worker')}`,
  ExecutionProgressed: (d) => `Tool execution at ${Math.round(Number(d.progress) * 100)}%`,
  ExecutionCancelRequested: (d) => `Tool execution cancel requested by ${f(d, 'by')}`,
  ExecutionCompleted: (d) => `Tool execution completed (exit ${f(d, 'exitCode')})`,
  ExecutionFailed: (d) => `Tool execution failed (exit ${f(d, 'exitCode')})`,
  ExecutionCancelled: (d) =>
    `Tool execution cancelled${d.started === true ? ' while running' : ' before it started'}`,
  ExecutionTimedOut: (d) => `Tool execution timed out after ${f(d, 'timeoutMs')} ms`,
  ExecutionInterrupted: (d) => `Tool execution interrupted: ${f(d, 'reason')}`,
  ToolTargetsChanged: (d) =>
    `Tool target allowlist set to ${Array.isArray(d.targets) ? d.targets.length : '?'} entries by ${f(d, 'by')}`,
  AgentRegistered: (d) =>
    `Agent ${f(d, 'name')} (${f(d, 'agentId')}) registered at ${f(d, 'url')} by ${f(d, 'by')}${capacity(d.capacity)}`,
  AgentDeregistered: (d) => `Agent ${f(d, 'agentId')} deregistered by ${f(d, 'by')}`,
  WorkspaceSlotClaimed: (d) =>
    `Workspace slot claimed for user ${f(d, 'userId')} by workspace ${f(d, 'workspaceId')} (plan limit ${d.limit === null ? 'none' : f(d, 'limit')})`,
  WorkspaceSlotPlaced: (d) =>
    `Workspace ${f(d, 'workspaceId')} takes ${f(d, 'cpus')} CPUs and ${f(d, 'memoryMb')} MB on agent ${f(d, 'agentId')}`,
  WorkspaceSlotReleased: (d) =>
    `Workspace slot of user ${f(d, 'userId')} released by workspace ${f(d, 'workspaceId')}`,
  WorkspaceOnApprovalSet: (d) =>
    d.enabled === true
      ? `Workspace on approval turned on by ${f(d, 'by')}: image ${f(d, 'image')}${resources(d.resources)}`
      : `Workspace on approval turned off by ${f(d, 'by')}`,
  WorkspaceLossPolicySet: (d) =>
    `Workspace loss policy set by ${f(d, 'by')}: on agent loss ${f(d, 'onAgentLoss')}, on a vanished container ${f(d, 'onContainerLost')}`,
  WorkspaceOnApprovalRefused: (d) => `No workspace on approval for user ${f(d, 'userId')}: ${f(d, 'reason')}`,
  WorkspaceRequested: (d) =>
    `Workspace ${f(d, 'workspaceId')} requested for user ${f(d, 'userId')} by ${f(d, 'by')}: image ${f(d, 'image')}${resources(d.resources)}${typeof d.agentId === 'string' ? ` on agent ${d.agentId}` : ''}`,
  WorkspacePlaced: (d) => `Workspace ${f(d, 'workspaceId')} placed on agent ${f(d, 'agentId')}`,
  WorkspaceContainerCreated: (d) =>
    `Workspace ${f(d, 'workspaceId')}: container ${f(d, 'containerName')} created`,
  WorkspaceContainerStarted: (d) => `Workspace ${f(d, 'workspaceId')}: container started`,
  WorkspaceRoutePublished: (d) => `Workspace ${f(d, 'workspaceId')}: route published to ${f(d, 'upstream')}`,
  WorkspaceReady: (d) => `Workspace ${f(d, 'workspaceId')} ready`,
  WorkspaceProvisioningFailed: (d) =>
    `Workspace ${f(d, 'workspaceId')} failed at ${f(d, 'step')}: ${f(d, 'reason')}`,
  WorkspaceUnavailable: (d) =>
    `Workspace ${f(d, 'workspaceId')} unavailable (agent ${f(d, 'agentId')}): ${f(d, 'reason')}`,
  WorkspaceAgentReturned: (d) =>
    `Workspace ${f(d, 'workspaceId')}: agent ${f(d, 'agentId')} answers again, container restarted`,
  WorkspaceContainerLost: (d) =>
    `Workspace ${f(d, 'workspaceId')}: container lost on agent ${f(d, 'agentId')} (${f(d, 'reason')})`,
  WorkspaceStopRequested: (d) => `Workspace ${f(d, 'workspaceId')} stop requested by ${f(d, 'by')}`,
  WorkspaceStopped: (d) => `Workspace ${f(d, 'workspaceId')} stopped`,
  WorkspaceStartRequested: (d) => `Workspace ${f(d, 'workspaceId')} start requested by ${f(d, 'by')}`,
  WorkspaceDeletionRequested: (d) =>
    `Workspace ${f(d, 'workspaceId')} deletion requested by ${f(d, 'by')} (${f(d, 'reason').replaceAll('_', ' ')}${d.deleteData === true ? ', data too' : ''})`,
  WorkspaceRouteWithdrawn: (d) => `Workspace ${f(d, 'workspaceId')}: route withdrawn`,
  WorkspaceContainerRemoved: (d) => `Workspace ${f(d, 'workspaceId')}: container removed`,
  WorkspaceDeleted: (d) => `Workspace ${f(d, 'workspaceId')} deleted`,
  WorkspaceSessionOpened: (d) => `Session opened into workspace ${f(d, 'workspaceId')}`,
  WorkspaceSessionsEnded: (d) => `Sessions of workspace ${f(d, 'workspaceId')} ended`,
  WorkspaceSessionEnded: (d) =>
    `Session ${f(d, 'sessionId')} of workspace ${f(d, 'workspaceId')} ended by ${f(d, 'by')}`,
  UploadStarted: (d) =>
    `Upload ${f(d, 'uploadId')} of ${f(d, 'fileName')} (${f(d, 'size')} bytes) to agent ${f(d, 'agentId')} started by ${f(d, 'by')}`,
  UploadCompleted: (d) => `Upload ${f(d, 'uploadId')} completed: ${f(d, 'path')}`,
  UploadFailed: (d) => `Upload ${f(d, 'uploadId')} failed: ${f(d, 'reason')}`,
  UploadExpired: (d) => `Upload ${f(d, 'uploadId')} expired: no byte since ${f(d, 'idleSince')}`,
  ImageBuildRequested: (d) =>
    `Image ${f(d, 'name')}:${f(d, 'tag')} (${f(d, 'imageId')}) build on agent ${f(d, 'agentId')} requested by ${f(d, 'by')}`,
  ImageBuildStarted: (d) => `Image ${f(d, 'imageId')} build started by worker ${f(d, 'worker')}`,
  ImageBuildCancelled: (d) => `Image ${f(d, 'imageId')} build cancelled by ${f(d, 'by')}`,
  ImageBuildSucceeded: (d) => `Image ${f(d, 'imageId')} built: ${f(d, 'dockerId')}`,
  ImageBuildFailed: (d) => `Image ${f(d, 'imageId')} build failed: ${f(d, 'reason')}`,
  ImagePushStarted: (d) => `Image ${f(d, 'imageId')} push to ${f(d, 'ref')} started by ${f(d, 'by')}`,
  ImagePushed: (d) => `Image ${f(d, 'imageId')} pushed as ${f(d, 'ref')} by ${f(d, 'by')}`,
  ImagePushFailed: (d) => `Image ${f(d, 'imageId')} push to ${f(d, 'ref')} failed: ${f(d, 'reason')}`,
  ImageLost: (d) =>
    `Image ${f(d, 'imageId')} found gone from its agent; built again as ${f(d, 'rebuiltAs')} by ${f(d, 'by')}`,
  ImageDeleted: (d) => `Image ${f(d, 'imageId')} deleted by ${f(d, 'by')}`,
  AdvisoriesImported: (d) =>
    `Advisory data imported: ${f(d, 'total')} records, ${f(d, 'changed')} new or changed, ${f(d, 'withdrawn')} withdrawn`,
};

/** The summary of one event; its type name when no summary is known or the data is not an object. */
export function summarize(event: RecordedEvent): string {
  const summary = summaries[event.type];
  const data = event.data;
  if (!summary || typeof data !== 'object' || data === null || Array.isArray(data)) return event.type;
  // Free text of any context (a name, a reason) reaches the summary: a NUL or an unpaired surrogate
  // in it would stop the audit projection for every tenant.
  return toStorableText(summary(data as Record<string, unknown>, event));
}

/**
 * Every event type the audit trail records: each context's event contract. A context that lands adds
 * its list here (and its summaries above).
 */
export const auditedEventTypes: readonly string[] = [
  ...new Set([
    ...tenancyEventTypes,
    ...tenantDomainEventTypes,
    ...identityEventTypes,
    ...trackerEventTypes,
    ...toolsEventTypes,
    ...packagesEventTypes,
    ...workspacesEventTypes,
    ...Object.keys(tokenFamilyEventSchemas),
    ...Object.keys(loginEventSchemas),
    'SigningKeyRotated',
    ...Object.keys(summaries),
  ]),
];
