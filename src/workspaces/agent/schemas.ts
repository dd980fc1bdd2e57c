import { z } from 'zod';
import { BuildArgs, BuildTarget, ImageRef } from '../../commands/workspaces/index.ts';

const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
  })
  .meta({ id: 'AgentProblem' });

export const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: Problem } },
});

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const EnrolBody = z.object({ token: z.string().min(1) }).meta({ id: 'AgentEnrolment' });
export const EnrolAnswer = z.object({ agent_key: z.string(), enrolled_at: z.string() });

export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  docker: z.enum(['up', 'down']),
  version: z.string(),
  time: z.string(),
});

export const SystemStats = z
  .object({
    cpu: z.object({ cores: z.number().int(), load1: z.number() }),
    memory: z.object({ total_bytes: z.number(), free_bytes: z.number() }),
    disk: z.object({ total_bytes: z.number(), free_bytes: z.number() }),
    containers: z.object({ total: z.number().int(), running: z.number().int(), images: z.number().int() }),
  })
  .meta({ id: 'AgentSystemStats' });

/** Container names Warden uses: the workspace id with a prefix; Docker's own name rule. */
export const ContainerRef = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, 'a container name or id');

export const CreateContainer = z
  .object({
    name: ContainerRef,
    image: ImageRef,
    cmd: z.array(z.string()).max(64).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    ports: z.array(z.number().int().min(1).max(65535)).max(16).default([]),
    cpus: z.number().positive().max(256).optional(),
    memory_mb: z.number().int().min(6).max(1_048_576).optional(),
    labels: z.record(z.string().min(1).max(128), z.string().max(512)).default({}),
    /** Credentials to pull the image with, when the host lacks it and it names a registry host. */
    registry_auth: z.lazy(() => RegistryAuthBody).optional(),
  })
  .meta({ id: 'AgentContainerCreate' });

export const Created = z.object({ id: z.string(), name: z.string(), created: z.boolean() });

export const Port = z.object({
  container_port: z.number().int(),
  host_ip: z.string(),
  host_port: z.number().int(),
});

export const Container = z
  .object({
    id: z.string(),
    name: z.string(),
    image: z.string(),
    state: z.string(),
    running: z.boolean(),
    labels: z.record(z.string(), z.string()),
    ports: z.array(Port),
    created_at: z.string(),
  })
  .meta({ id: 'AgentContainer' });

export const ContainerList = z.object({ items: z.array(Container) });
export const RefParams = z.object({ ref: ContainerRef });
export const ListQuery = z.object({ label: z.union([z.string(), z.array(z.string())]).optional() });
export const LogsQuery = z.object({ tail: z.coerce.number().int().min(1).max(10_000).default(200) });
export const DeleteQuery = z.object({ volumes: z.enum(['true', 'false']).default('false') });

/**
 * An image reference as Docker takes it (`name[:tag][@digest]`, optionally with a registry host): the
 * engine's API puts it into its URL paths, so a `..` component must never reach it.
 */
export const ImageParams = z.object({ ref: ImageRef });
export const Image = z.object({ ref: z.string(), id: z.string(), tags: z.array(z.string()) }).meta({
  id: 'AgentImage',
});

/** Credentials for a registry, as Warden hands them to the agent in a signed body; never logged. */
export const RegistryAuthBody = z
  .object({
    username: z.string().max(255),
    password: z.string().max(4096),
    server_address: z.string().min(1).max(255),
  })
  .meta({ id: 'AgentRegistryAuth' });

export const ImageRefString = ImageParams.shape.ref;
export const BuildQuery = z.object({
  tag: ImageRefString,
  dockerfile: z.string().min(1).max(255).default('Dockerfile'),
  /** The staged context and its SHA-256, both in the signed target. */
  context: z.uuid(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Build arguments by name, as JSON (`--build-arg`). */
  build_args: z
    .string()
    .max(600_000)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of build arguments' });
        return z.NEVER;
      }
    })
    .pipe(BuildArgs)
    .optional(),
  /** The stage to build (`--target`). */
  target: BuildTarget.optional(),
  /** Build with no cached layer (`--no-cache`). */
  no_cache: z.enum(['true', 'false']).optional(),
});
export const ContextParams = z.object({ id: z.uuid() });
export const Staged = z
  .object({ id: z.string(), size: z.number().int(), sha256: z.string() })
  .meta({ id: 'AgentStagedContext' });
export const PushBody = z
  .object({ source: ImageRefString, target: ImageRefString, auth: RegistryAuthBody.optional() })
  .meta({ id: 'AgentImagePush' });
export const Pushed = z.object({
  target: z.string(),
  digest: z.string().nullable(),
  /** The push's progress lines (status lines, not per-chunk progress bars; at most 1000). */
  output: z.string(),
});
