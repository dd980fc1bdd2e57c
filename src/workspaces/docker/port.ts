import type { BuildOptions } from '../../commands/workspaces/index.ts';

/**
 * What the workspace agent needs from a container engine: the few operations it serves, keyed by the
 * container's name (Warden names each container after its workspace, so a retried create finds the
 * container instead of making a second). The Docker adapter is `dockerode.ts`; nothing else in the
 * agent knows which engine runs the containers.
 */
export interface ContainerEngine {
  /** True when the engine answers. */
  ping(): Promise<boolean>;
  counts(): Promise<{ total: number; running: number; images: number }>;
  /** Creates the container, or returns the one already named so (`created: false`). */
  create(spec: ContainerSpec): Promise<{ id: string; name: string; created: boolean }>;
  start(ref: string): Promise<void>;
  stop(ref: string, timeoutSeconds?: number): Promise<void>;
  /** Removes the container (forced: a running one is killed); `volumes` removes its anonymous volumes. */
  remove(ref: string, options: { volumes: boolean }): Promise<void>;
  inspect(ref: string): Promise<ContainerInfo>;
  /** Containers carrying every given label (`key=value` or `key`). */
  list(labels: string[]): Promise<ContainerInfo[]>;
  logs(ref: string, tail: number): Promise<string>;
  /** The image as this host holds it (Warden refuses a workspace whose image no agent has). */
  image(ref: string): Promise<{ id: string; tags: string[] }>;
  /**
   * Builds an image from a tar build context, tagged `tag`; each line of the build's output is handed
   * to `onLine` as it comes. A refused context or a failing step is a `ContainerEngineError`
   * (`invalid` before the build starts, `failed` once it runs). Aborting `signal` drops the request
   * to the engine, which stops the build.
   */
  build(
    context: NodeJS.ReadableStream,
    options: { tag: string; dockerfile: string } & BuildOptions,
    onLine: (line: string) => void,
    signal?: AbortSignal,
  ): Promise<{ id: string }>;
  /** Tags `source` as `target` and pushes `target` with the registry credentials given (if any). */
  push(
    source: string,
    target: string,
    auth: RegistryAuth | undefined,
    onLine: (line: string) => void,
  ): Promise<{ digest: string | null }>;
  /** Pulls the image from its registry with the credentials given (if any). */
  pull(ref: string, auth: RegistryAuth | undefined): Promise<void>;
  /** Removes the image tag (`conflict` while a container uses it; `not_found` when absent). */
  removeImage(ref: string): Promise<void>;
}

/** Credentials for one registry, as the engine sends them; never logged. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** The registry's host[:port]. */
  serveraddress: string;
}

export interface ContainerSpec {
  name: string;
  image: string;
  cmd?: string[];
  env?: Record<string, string>;
  /** Container ports published on `publishHost` at ports the engine picks. */
  ports: number[];
  publishHost: string;
  /** CPU limit in cores (0.5 = half a core). */
  cpus?: number;
  memoryBytes?: number;
  labels: Record<string, string>;
  /** Host folders bound into the container (read-write). */
  mounts?: { source: string; target: string }[];
  /** Credentials to pull the image with when the host does not hold it and it names a registry host. */
  registryAuth?: RegistryAuth;
}

export interface PortBinding {
  containerPort: number;
  hostIp: string;
  hostPort: number;
}

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  state: string;
  running: boolean;
  labels: Record<string, string>;
  ports: PortBinding[];
  createdAt: string;
}

export type ContainerEngineErrorCode =
  | 'not_found'
  | 'image_not_found'
  | 'conflict'
  | 'unavailable'
  /** The engine refused the request itself (a context that is not a tar, a bad Dockerfile path). */
  | 'invalid'
  /** A build or push ran and failed (a failing step, a registry refusing the credentials). */
  | 'failed';

/** A failure of the engine the agent can answer precisely (404, 409, 503); anything else is a bug. */
export class ContainerEngineError extends Error {
  constructor(
    readonly code: ContainerEngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ContainerEngineError';
  }
}
