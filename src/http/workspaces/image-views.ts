import { z } from '@hono/zod-openapi';
import {
  BuildArgName,
  type BuildArgs,
  BuildArgValue,
  BuildTarget,
  ImageName,
  type ImageRecord,
  ImageTag,
  localRefOf,
  MAX_BUILD_ARGS,
} from '../../commands/workspaces/index.ts';
import { type ImageRegistry, registryUrlProblem } from '../../workspaces/index.ts';

/* The image catalog's request and answer shapes, and how an image's record reads in an answer. */

export const IdParam = z.object({ id: z.uuid() });
export const PushParams = z.object({ id: z.uuid(), push: z.uuid() });
export const Push = z.object({
  ref: z.string(),
  digest: z.string().nullable(),
  by: z.string(),
  at: z.string(),
  /** The push's progress lines (absent for pushes recorded before they were kept). */
  log: z.string().nullable(),
  /** The same lines as Server-Sent Events, to their final status (absent as `log` is). */
  stream: z.string().nullable(),
});
export const PushFailure = z.object({
  ref: z.string(),
  reason: z.string(),
  by: z.string(),
  at: z.string(),
  log: z.string(),
  stream: z.string(),
});
/** A push started and not ended: `at` is its start; follow it (again) through `stream`. */
export const PushInProgress = z.object({
  ref: z.string(),
  by: z.string(),
  at: z.string(),
  log: z.string(),
  stream: z.string(),
});
export const Image = z
  .object({
    id: z.string(),
    agent_id: z.string(),
    name: z.string(),
    tag: z.string(),
    /** The reference the building agent holds it by. */
    local_ref: z.string(),
    dockerfile: z.string(),
    /** The build arguments it was built with, by name (`{}`: none). */
    build_args: z.record(z.string(), z.string()),
    /** The stage of a multi-stage Dockerfile it built (null: the last). */
    target: z.string().nullable(),
    /** Built with no cached layer. */
    no_cache: z.boolean(),
    context_bytes: z.number().int(),
    /** `lost`: built, but its agent's engine no longer holds it (found when the tag was built again). */
    status: z.enum(['building', 'built', 'failed', 'cancelled', 'lost', 'deleted']),
    docker_id: z.string().nullable(),
    reason: z.string().nullable(),
    requested_by: z.string(),
    requested_at: z.string(),
    finished_at: z.string().nullable(),
    /** The latest push's reference in the tenant's registry: what a workspace names to run it anywhere. */
    pushed_ref: z.string().nullable(),
    pushes: z.array(Push),
    /** Pushes the agent or registry refused: the reason, and the push's log. */
    push_failures: z.array(PushFailure),
    /** Pushes under way, the oldest first. */
    pushes_in_progress: z.array(PushInProgress),
    links: z.object({ stream: z.string(), log: z.string(), cancel: z.string() }),
  })
  .openapi('Image');
export const ImageList = z.object({ items: z.array(Image) }).openapi('ImageList');
export const BuildQuery = z.object({
  agent_id: z.uuid().openapi({ description: 'The agent that builds it' }),
  // A first component with a dot (`registry.example.com/…`) or `localhost` names a registry host: the
  // local tag would stand in for that registry's image on the agent (a pushed ref is not pulled again).
  name: ImageName.refine((name) => {
    const first = name.split('/')[0] ?? '';
    return !name.includes('/') || !(first.includes('.') || first === 'localhost');
  }, 'must not name a registry host (the push adds the tenant registry’s host)'),
  tag: ImageTag.default('latest'),
  dockerfile: z.string().min(1).max(255).default('Dockerfile').openapi({
    description: 'The Dockerfile’s path inside the context',
  }),
  build_arg: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .superRefine((value, ctx) => {
      const items = listOf(value);
      for (const { index, message } of readBuildArgs(items).problems) {
        ctx.addIssue({ code: 'custom', message, path: Array.isArray(value) ? [index] : [] });
      }
    })
    .openapi({
      description: `A build argument, \`NAME=value\` (\`docker build --build-arg\`): repeat it for each, at most ${MAX_BUILD_ARGS}. Kept in the image’s record and in the built image’s history: not for secrets`,
    }),
  target: BuildTarget.optional().openapi({
    description:
      'The stage of a multi-stage Dockerfile to build (`FROM … AS <name>`; `docker build --target`)',
  }),
  no_cache: z.enum(['true', 'false']).default('false').openapi({
    description: 'Build every step again, using no layer the agent cached (`docker build --no-cache`)',
  }),
});

const listOf = (value: string | string[] | undefined) =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * `NAME=value` items as build arguments by name, and what is wrong with each item that is not one (a
 * name given twice is too: which value the engine would take is not for a query's order to say).
 */
function readBuildArgs(items: readonly string[]): {
  args: BuildArgs;
  problems: { index: number; message: string }[];
} {
  const args = new Map<string, string>();
  const problems: { index: number; message: string }[] = [];
  if (items.length > MAX_BUILD_ARGS) {
    problems.push({ index: MAX_BUILD_ARGS, message: `at most ${MAX_BUILD_ARGS} build arguments` });
  }
  items.forEach((item, index) => {
    const equals = item.indexOf('=');
    const name = equals < 0 ? item : item.slice(0, equals);
    const value = equals < 0 ? '' : item.slice(equals + 1);
    const named = BuildArgName.safeParse(name);
    const valued = BuildArgValue.safeParse(value);
    if (equals < 0) problems.push({ index, message: 'must be NAME=value' });
    else if (!named.success) problems.push({ index, message: named.error.issues[0]?.message ?? 'bad name' });
    else if (args.has(name)) problems.push({ index, message: `${name} is given twice` });
    else if (!valued.success) {
      problems.push({ index, message: `the value ${valued.error.issues[0]?.message ?? 'is refused'}` });
    } else args.set(name, value);
  });
  // Own properties whatever the names (`__proto__` too), as JSON reads them.
  return { args: Object.fromEntries(args), problems };
}

/** The build arguments of a build query that passed {@link BuildQuery} (`{}` when none). */
export const buildArgsOf = (value: string | string[] | undefined): BuildArgs =>
  readBuildArgs(listOf(value)).args;
export const RegistryBody = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .max(500)
      .superRefine((url, ctx) => {
        const problem = registryUrlProblem(url);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .openapi({ description: 'The registry, `https://registry.example.com` (`http://` for 127.0.0.0/8)' }),
    username: z.string().max(255).default(''),
    password: z.string().max(4096).nullable().optional().openapi({
      description: 'Sealed as it is written, never returned; omitted keeps the one set, null clears it',
    }),
  })
  .openapi('ImageRegistryBody');
export const Registry = z
  .object({
    url: z.string(),
    host: z.string(),
    username: z.string(),
    password_set: z.boolean(),
    updated_at: z.string(),
  })
  .openapi('ImageRegistry');

export function present(image: ImageRecord) {
  const last = image.pushes[image.pushes.length - 1];
  const links = (pushId: string) => ({
    log: `/v1/images/${image.imageId}/pushes/${pushId}/log`,
    stream: `/v1/images/${image.imageId}/pushes/${pushId}/stream`,
  });
  return {
    id: image.imageId,
    agent_id: image.agentId,
    name: image.name,
    tag: image.tag,
    local_ref: localRefOf(image),
    dockerfile: image.dockerfile,
    build_args: image.buildArgs ?? {},
    target: image.target ?? null,
    no_cache: image.noCache ?? false,
    context_bytes: image.contextBytes,
    status: image.status,
    docker_id: image.dockerId ?? null,
    reason: image.reason ?? null,
    requested_by: image.by,
    requested_at: image.requestedAt,
    finished_at: image.finishedAt ?? null,
    pushed_ref: last?.ref ?? null,
    pushes: image.pushes.map(({ pushId, ...push }) => ({
      ...push,
      ...(pushId ? links(pushId) : { log: null, stream: null }),
    })),
    push_failures: image.pushFailures.map(({ pushId, ...failure }) => ({ ...failure, ...links(pushId) })),
    pushes_in_progress: (image.pushesInProgress ?? []).map(({ pushId, ...push }) => ({
      ...push,
      ...links(pushId),
    })),
    links: {
      stream: `/v1/images/${image.imageId}/stream`,
      log: `/v1/images/${image.imageId}/log`,
      cancel: `/v1/images/${image.imageId}/cancel`,
    },
  };
}

export const presentRegistry = (registry: ImageRegistry) => ({
  url: registry.url,
  host: registry.host,
  username: registry.username,
  password_set: registry.passwordSet,
  updated_at: registry.updatedAt,
});
