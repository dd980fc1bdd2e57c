import { z } from '@hono/zod-openapi';
import { ImageName, type ImageRecord, ImageTag, localRefOf } from '../../commands/workspaces/index.ts';
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
});
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
