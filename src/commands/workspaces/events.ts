import { z } from 'zod';
import type { DomainEvent, FieldError } from '../kernel/index.ts';
import { checkAgainst } from '../kernel/index.ts';
import { BuildArgs, BuildTarget } from './build-options.ts';
import { ImageName, ImageRef, ImageTag } from './image-reference.ts';

export const AgentName = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'must be 1-63 lowercase letters, digits, "." or "-"');
export const AgentLabel = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._=-]{0,62}$/, 'must be 1-63 lowercase letters, digits, ".", "_", "=" or "-"');
export const AgentCapacity = z.object({
  cpus: z.number().positive().max(1024),
  memoryMb: z.number().int().min(64).max(16_777_216),
  workspaces: z.number().int().min(1).max(10_000),
});
export type AgentCapacity = z.infer<typeof AgentCapacity>;
export const Resources = z.object({
  cpus: z.number().positive().max(64),
  memoryMb: z.number().int().min(16).max(1_048_576),
});
export type Resources = z.infer<typeof Resources>;

export const workspaceStatuses = [
  'requested',
  'placed',
  'created',
  'started',
  'routed',
  'ready',
  'stopping',
  'stopped',
  'starting',
  'failed',
  /** Its agent fell silent: the workspace waits to be recreated elsewhere (by policy) or deleted. */
  'unavailable',
  'deleting',
  'deleted',
] as const;
export const WorkspaceStatus = z.enum(workspaceStatuses);
export type WorkspaceStatus = z.infer<typeof WorkspaceStatus>;

/** The steps of provisioning, named in a failure. */
export const ProvisioningStep = z.enum(['place', 'create', 'start', 'route', 'ready', 'stop', 'delete']);
export type ProvisioningStep = z.infer<typeof ProvisioningStep>;

/**
 * A file name as the agent's store keeps it: one path segment, no "." or ".." and no separators or
 * control characters, so no name can leave the upload's folder.
 */
export const UploadFileName = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (name) => ![...name].some((char) => char === '/' || char === '\\' || char < ' ' || char === '\u007f'),
    'must be a file name: no "/", "\\" or control characters',
  )
  .refine((name) => name !== '.' && name !== '..', 'must not be "." or ".."');
/**
 * A file's place in a workspace's data folder: a relative path of `/`-separated names (each as
 * `UploadFileName`, so no "." or ".." segment, no backslash or control character, no empty segment),
 * never absolute. Symbolic links inside the folder are the agent's to refuse (it sees the disk).
 */
export const WorkspaceFilePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((path) => !path.startsWith('/'), 'must be relative to the workspace data folder, not absolute')
  .refine(
    (path) => path.split('/').every((segment) => UploadFileName.safeParse(segment).success),
    'must be names separated by "/": no empty, "." or ".." segment, no "\\" or control characters',
  );
export const Sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest, 64 lowercase hex digits');

const at = z.iso.datetime();
/** Who did it: a user id, or `process:<name>` for a process manager. */
const by = z.string().min(1).max(200);
const agent = { agentId: z.uuid(), tenantId: z.uuid() };
const workspace = { workspaceId: z.uuid(), tenantId: z.uuid() };

/** The event contract of the workspaces context: these schemas are what is stored. */
export const workspacesEventSchemas = {
  AgentRegistered: z.object({
    ...agent,
    name: AgentName,
    url: z.url(),
    labels: z.array(AgentLabel).max(32),
    capacity: AgentCapacity,
    at,
    by,
  }),
  AgentDeregistered: z.object({ ...agent, at, by }),

  /** A slot of the tenant's workspace quota taken for one user's workspace (the quota's stream). */
  WorkspaceSlotClaimed: z.object({
    tenantId: z.uuid(),
    workspaceId: z.uuid(),
    userId: z.uuid(),
    limit: z.number().int().min(0).nullable(),
    at,
  }),
  WorkspaceSlotReleased: z.object({ tenantId: z.uuid(), workspaceId: z.uuid(), userId: z.uuid(), at }),
  /**
   * The slot's workspace takes room on an agent (the quota's stream): every placement in a tenant
   * appends here with the expected revision, so concurrent placements cannot overfill an agent.
   */
  WorkspaceSlotPlaced: z.object({
    tenantId: z.uuid(),
    workspaceId: z.uuid(),
    agentId: z.uuid(),
    cpus: z.number().positive(),
    memoryMb: z.number().int().positive(),
    at,
  }),

  /** The tenant's "workspace on approval" setting (its settings stream): admins only. */
  WorkspaceOnApprovalSet: z.object({
    tenantId: z.uuid(),
    enabled: z.boolean(),
    image: ImageRef.nullable(),
    resources: Resources,
    ports: z.array(z.number().int().min(1).max(65535)).min(1).max(8),
    at,
    by,
  }),
  /** What happens to the tenant's workspaces when their agent is lost or their container vanishes. */
  WorkspaceLossPolicySet: z.object({
    tenantId: z.uuid(),
    onAgentLoss: z.enum(['recreate', 'wait']),
    onContainerLost: z.enum(['recreate', 'mark']),
    at,
    by,
  }),
  /** An approval the setting could not serve (quota full, user already has one…): why, not silence. */
  WorkspaceOnApprovalRefused: z.object({
    tenantId: z.uuid(),
    userId: z.uuid(),
    reason: z.string().max(500),
    at,
  }),

  WorkspaceRequested: z.object({
    ...workspace,
    userId: z.uuid(),
    image: ImageRef,
    resources: Resources,
    /** The agent an admin chose, or null to let placement choose. */
    agentId: z.uuid().nullable(),
    ports: z.array(z.number().int().min(1).max(65535)).min(1).max(8),
    at,
    by,
  }),
  WorkspacePlaced: z.object({ ...workspace, agentId: z.uuid(), at }),
  WorkspaceContainerCreated: z.object({
    ...workspace,
    containerName: z.string(),
    containerId: z.string(),
    at,
  }),
  WorkspaceContainerStarted: z.object({ ...workspace, at }),
  WorkspaceRoutePublished: z.object({
    ...workspace,
    /** Where nginx sends the workspace's traffic: the agent's published host and port. */
    upstream: z.string().regex(/^[0-9.]+:[0-9]{1,5}$/),
    at,
  }),
  WorkspaceReady: z.object({ ...workspace, at }),
  WorkspaceProvisioningFailed: z.object({
    ...workspace,
    step: ProvisioningStep,
    reason: z.string().max(2000),
    at,
  }),
  WorkspaceUnavailable: z.object({ ...workspace, agentId: z.uuid(), reason: z.string().max(500), at }),
  /** The lost agent answers again (policy `wait`): the workspace's container is started and routed anew. */
  WorkspaceAgentReturned: z.object({ ...workspace, agentId: z.uuid(), at }),
  /** The reconciler found no container for the workspace on its (answering) agent. */
  WorkspaceContainerLost: z.object({ ...workspace, agentId: z.uuid(), reason: z.string().max(500), at }),
  WorkspaceStopRequested: z.object({ ...workspace, at, by }),
  WorkspaceStopped: z.object({ ...workspace, at }),
  WorkspaceStartRequested: z.object({ ...workspace, at, by }),
  WorkspaceDeletionRequested: z.object({
    ...workspace,
    deleteData: z.boolean(),
    reason: z.string().max(200),
    at,
    by,
  }),
  WorkspaceRouteWithdrawn: z.object({ ...workspace, at }),
  WorkspaceContainerRemoved: z.object({ ...workspace, at }),
  WorkspaceDeleted: z.object({ ...workspace, at }),
  /**
   * The workspace's user asked for a way in through nginx: a one-time ticket, valid until
   * `ticketExpiresAt`, that the browser turns into a session of this workspace (never the ticket itself).
   */
  WorkspaceSessionOpened: z.object({ ...workspace, userId: z.uuid(), ticketExpiresAt: at, at, by }),
  /** Every ticket and browser session of the workspace ended (its user or a manager asked). */
  WorkspaceSessionsEnded: z.object({ ...workspace, at, by }),
  /** One browser session of the workspace ended, by its public id (its user or a manager asked). */
  WorkspaceSessionEnded: z.object({ ...workspace, sessionId: z.uuid(), at, by }),
  /** A resumable upload to an agent's store began: its declared size holds part of the plan's `uploadBytes`. */
  UploadStarted: z.object({
    uploadId: z.uuid(),
    tenantId: z.uuid(),
    agentId: z.uuid(),
    fileName: UploadFileName,
    size: z.number().int().min(0),
    sha256: Sha256Hex,
    /** Set when the file goes into a workspace's data folder (on the workspace's agent) at `path`. */
    workspaceId: z.uuid().optional(),
    path: WorkspaceFilePath.optional(),
    by,
    at,
  }),
  /** Every byte arrived and their SHA-256 matched the declared one: the file is in the agent's store. */
  UploadCompleted: z.object({
    uploadId: z.uuid(),
    tenantId: z.uuid(),
    path: z.string().min(1).max(1000),
    at,
  }),
  /** The upload was refused or given up (checksum mismatch, too many bytes, cancelled): its bytes are deleted. */
  UploadFailed: z.object({ uploadId: z.uuid(), tenantId: z.uuid(), reason: z.string().max(500), at }),
  /**
   * No byte arrived for `WARDEN_UPLOAD_EXPIRY_MS` (since `idleSince`): the upload is over, its
   * declared bytes count no longer and its partial file is deleted from the agent.
   */
  UploadExpired: z.object({ uploadId: z.uuid(), tenantId: z.uuid(), idleSince: at, at }),
  /** An image build was asked for on an agent: its context is on its way to the agent. */
  ImageBuildRequested: z.object({
    imageId: z.uuid(),
    tenantId: z.uuid(),
    agentId: z.uuid(),
    name: ImageName,
    tag: ImageTag,
    dockerfile: z.string().min(1).max(255),
    contextBytes: z.number().int().min(0),
    /** The staged context on the agent (absent in builds recorded before contexts were staged). */
    contextId: z.uuid().optional(),
    contextSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    /** What the build asks of the engine beyond its context (absent: none, and in builds before them). */
    buildArgs: BuildArgs.optional(),
    target: BuildTarget.optional(),
    noCache: z.boolean().optional(),
    by,
    at,
  }),
  /** The agent built the image (its engine id); the output is kept as bounded frames, not events. */
  /** A worker took the build's job and started it on the agent (a second start means that worker died). */
  ImageBuildStarted: z.object({ imageId: z.uuid(), tenantId: z.uuid(), worker: z.string().max(200), at }),
  /** An operator cancelled the build: a queued one never runs, a running one is aborted (output kept). */
  ImageBuildCancelled: z.object({ imageId: z.uuid(), tenantId: z.uuid(), by, at }),
  ImageBuildSucceeded: z.object({ imageId: z.uuid(), tenantId: z.uuid(), dockerId: z.string().max(200), at }),
  ImageBuildFailed: z.object({ imageId: z.uuid(), tenantId: z.uuid(), reason: z.string().max(2000), at }),
  /**
   * A push of the image to the tenant's registry as `ref` began; its progress lines are output frames
   * under `pushId`, which its end (`ImagePushed` or `ImagePushFailed`) names too. Until then the push
   * is under way: a client that lost its stream follows it again from where it was.
   */
  ImagePushStarted: z.object({
    imageId: z.uuid(),
    tenantId: z.uuid(),
    ref: ImageRef,
    pushId: z.uuid(),
    by,
    at,
  }),
  /** The image is in the tenant's registry under `ref` (`host/name:tag`). */
  ImagePushed: z.object({
    imageId: z.uuid(),
    tenantId: z.uuid(),
    ref: ImageRef,
    digest: z.string().max(200).nullable(),
    /** The push's progress lines are kept as output frames under this id (absent in older pushes). */
    pushId: z.uuid().optional(),
    by,
    at,
  }),
  /** The registry or agent refused a push: the reason, and its progress lines under `pushId`. */
  ImagePushFailed: z.object({
    imageId: z.uuid(),
    tenantId: z.uuid(),
    ref: ImageRef,
    pushId: z.uuid(),
    reason: z.string().max(2000),
    by,
    at,
  }),
  /**
   * The image's agent answered, asked after the image was built, that its engine no longer holds the
   * local tag (removed on the host, the host reinstalled): recorded with the build that takes the tag
   * again (`rebuiltAs`), in one decision. Its pushed refs, if any, still name it in the registry.
   */
  ImageLost: z.object({ imageId: z.uuid(), tenantId: z.uuid(), rebuiltAs: z.uuid(), by, at }),
  /**
   * Deleted from the catalog; `registry` says what became of its pushed manifests: `removed`, `kept`
   * (the registry refused the deletion, or another image of the catalog was pushed to the same ref:
   * `registryDetail` says why) or `none` (never pushed).
   */
  ImageDeleted: z.object({
    imageId: z.uuid(),
    tenantId: z.uuid(),
    registry: z.enum(['removed', 'kept', 'none']).optional(),
    registryDetail: z.string().max(1000).optional(),
    by,
    at,
  }),
} as const;

type Schemas = typeof workspacesEventSchemas;
export type WorkspacesEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type WorkspacesEventType = WorkspacesEvent['type'];
export const workspacesEventTypes = Object.keys(workspacesEventSchemas) as WorkspacesEventType[];

export type AgentEvent = Extract<WorkspacesEvent, { type: `Agent${string}` }>;
export type SlotEvent = Extract<WorkspacesEvent, { type: `WorkspaceSlot${string}` }>;
export type SettingsEvent = Extract<
  WorkspacesEvent,
  { type: `WorkspaceOnApproval${string}` | 'WorkspaceLossPolicySet' }
>;
export type UploadEvent = Extract<WorkspacesEvent, { type: `Upload${string}` }>;
export type ImageEvent = Extract<WorkspacesEvent, { type: `Image${string}` }>;
export type WorkspaceEvent = Exclude<
  WorkspacesEvent,
  AgentEvent | SlotEvent | SettingsEvent | UploadEvent | ImageEvent
>;

export const agentStreamId = (agentId: string) => `workspaces.Agent-${agentId}`;
export const workspaceStreamId = (workspaceId: string) => `workspaces.Workspace-${workspaceId}`;
export const quotaStreamId = (tenantId: string) => `workspaces.Quota-${tenantId}`;
export const settingsStreamId = (tenantId: string) => `workspaces.Settings-${tenantId}`;
export const uploadsStreamId = (tenantId: string) => `workspaces.Uploads-${tenantId}`;
export const imagesStreamId = (tenantId: string) => `workspaces.Images-${tenantId}`;

/** Validates events against their stored contract, as `decide` returns them. */
export const checkEvents = <E extends WorkspacesEvent>(events: E[], fail: (errors: FieldError[]) => Error) =>
  checkAgainst(workspacesEventSchemas, events, fail);
