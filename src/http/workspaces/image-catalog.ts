import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { notFound } from '../../commands/kernel/index.ts';
import {
  cancelImageBuild,
  deleteImage,
  findAgent,
  findImage,
  ImageName,
  type ImageRecord,
  ImageTag,
  imagesStreamId,
  localRefOf,
  ownRefsOf,
  recordImageBuildFailed,
  recordImagePushed,
  recordImagePushFailed,
  tenantImages,
} from '../../commands/workspaces/index.ts';
import type { Logger } from '../../logger.ts';
import type { JobTables } from '../../processes/runtime/index.ts';
import {
  IMAGE_CANCEL_CHANNEL,
  IMAGE_OUTPUT_CAP_BYTES,
  queueImageBuild,
} from '../../processes/workspaces/index.ts';
import { outputWriter, readFrames, type StreamHub, type ToolOutputTables } from '../../tools/index.ts';
import {
  AgentCallError,
  agentClient,
  type ImageRegistries,
  type ImageRegistry,
  registryUrlProblem,
} from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, RequestError, readTables, validationHook } from '../kit/index.ts';
import { frameStream, resumePoint } from '../tools/index.ts';
import { type WorkspacesDeps, workspacesContext, workspacesProblems } from './context.ts';
import { requestBuildOverLost } from './image-rebuild.ts';
import { removeFromRegistry } from './image-registry-cleanup.ts';
import { stageContext } from './image-staging.ts';

/** The largest build context taken unless configured (`WARDEN_IMAGE_CONTEXT_MAX_BYTES`): 1 GiB. */
export const MAX_BUILD_CONTEXT_BYTES = 1024 * 1024 * 1024;

export interface ImageCatalogDeps extends WorkspacesDeps {
  registries: ImageRegistries;
  hub: StreamHub;
  logger?: Pick<Logger, 'error' | 'warn'>;
  /** The largest build context taken; {@link MAX_BUILD_CONTEXT_BYTES} when absent. */
  imageContextMaxBytes?: number;
}

const IdParam = z.object({ id: z.uuid() });
const PushParams = z.object({ id: z.uuid(), push: z.uuid() });
const Push = z.object({
  ref: z.string(),
  digest: z.string().nullable(),
  by: z.string(),
  at: z.string(),
  /** The push's progress lines (absent for pushes recorded before they were kept). */
  log: z.string().nullable(),
});
const PushFailure = z.object({
  ref: z.string(),
  reason: z.string(),
  by: z.string(),
  at: z.string(),
  log: z.string(),
});
const Image = z
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
    links: z.object({ stream: z.string(), log: z.string(), cancel: z.string() }),
  })
  .openapi('Image');
const ImageList = z.object({ items: z.array(Image) }).openapi('ImageList');
const BuildQuery = z.object({
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
const RegistryBody = z
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
const Registry = z
  .object({
    url: z.string(),
    host: z.string(),
    username: z.string(),
    password_set: z.boolean(),
    updated_at: z.string(),
  })
  .openapi('ImageRegistry');

function present(image: ImageRecord) {
  const last = image.pushes[image.pushes.length - 1];
  const pushLog = (pushId: string) => `/v1/images/${image.imageId}/pushes/${pushId}/log`;
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
    pushes: image.pushes.map(({ pushId, ...push }) => ({ ...push, log: pushId ? pushLog(pushId) : null })),
    push_failures: image.pushFailures.map(({ pushId, ...failure }) => ({ ...failure, log: pushLog(pushId) })),
    links: {
      stream: `/v1/images/${image.imageId}/stream`,
      log: `/v1/images/${image.imageId}/log`,
      cancel: `/v1/images/${image.imageId}/cancel`,
    },
  };
}

const presentRegistry = (registry: ImageRegistry) => ({
  url: registry.url,
  host: registry.host,
  username: registry.username,
  password_set: registry.passwordSet,
  updated_at: registry.updatedAt,
});

/**
 * The tenant's image catalog (`/v1/images…`): build an image on a chosen agent from a tar context
 * (the output kept as bounded frames, streamed as SSE like a tool's), push it to the tenant's
 * registry, list, inspect and delete it (refused while a workspace runs it). Viewing, building and
 * pushing take `workspaces:view` (operators and up); deleting and setting the registry
 * `workspaces:manage` (admins).
 */
export function imageCatalogRoutes(deps: ImageCatalogDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const output = readTables<ToolOutputTables>(deps.db);

  const visible = async (tenantId: string, imageId: string) => {
    const image = await findImage(deps.store, tenantId, imageId);
    if (!image || image.status === 'deleted') throw notFound('image');
    return image;
  };
  const clientOf = async (tenantId: string, agentId: string, timeoutMs = 30_000) => {
    const agent = await findAgent(deps.store, tenantId, agentId);
    if (!agent) throw notFound('agent');
    const key = await deps.keys.get(agentId);
    if (!key) {
      throw new RequestError(503, 'agent-unavailable', `the agent ${agent.state.name} has no key on record`);
    }
    return { name: agent.state.name, client: agentClient({ url: agent.state.url, key, timeoutMs }) };
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/registry',
      tags: ['Images'],
      summary: 'The tenant’s image registry (the password is never shown: `password_set`)',
      responses: { 200: jsonContent(Registry, 'The registry'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const registry = await deps.registries.get(tenant.id);
      if (!registry) throw notFound('image registry');
      return c.json(presentRegistry(registry), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/images/registry',
      tags: ['Images'],
      summary: 'Set the tenant’s image registry; the password is sealed with the key-encryption key',
      request: { body: { content: { 'application/json': { schema: RegistryBody } }, required: true } },
      responses: { 200: jsonContent(Registry, 'The registry now'), ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const body = c.req.valid('json');
      await deps.registries.put(tenant.id, {
        url: body.url,
        username: body.username,
        ...(body.password === undefined ? {} : { password: body.password }),
      });
      const registry = await deps.registries.get(tenant.id);
      if (!registry) throw new Error('unreachable: the registry was just written');
      return c.json(presentRegistry(registry), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/builds',
      tags: ['Images'],
      summary:
        'Build an image on an agent from the tar build context in the body (`application/x-tar`); follow it at `links.stream`',
      request: {
        query: BuildQuery,
        body: { content: { 'application/x-tar': { schema: z.any() } }, required: true },
      },
      responses: {
        202: jsonContent(Image, 'The build started'),
        422: jsonContent(z.any(), 'The body is not a tar archive'),
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const query = c.req.valid('query');
      const cap = deps.imageContextMaxBytes ?? MAX_BUILD_CONTEXT_BYTES;
      const tooLarge = () =>
        new RequestError(413, 'body-too-large', `the build context is over ${cap} bytes`);
      if (Number(c.req.header('content-length') ?? '0') > cap) throw tooLarge();
      const { name, client } = await clientOf(tenant.id, query.agent_id);
      // A tag the agent holds may be an image workspaces run, which a build must not replace. Asked
      // while the context streams (no round trip before it: bench:images), refused once it is staged,
      // the staged context deleted; the agent refuses it again when the build starts.
      const ref = localRefOf({ name: query.name, tag: query.tag });
      const held = client.image(ref).then(
        (image) => (image ? 'held' : 'free'),
        () => 'unanswered' as const,
      );
      const contextId = crypto.randomUUID();
      const staged = await stageContext(client, contextId, c.req.raw.body, cap, tooLarge);
      const holds = await held;
      if (holds !== 'free') {
        await client.removeContext(contextId).catch(() => false);
        if (holds === 'unanswered') {
          throw new RequestError(503, 'agent-unavailable', `the agent ${name} did not answer`);
        }
        throw new RequestError(
          409,
          'rule-violated',
          `the agent ${name} already holds ${ref}: build another tag, or delete that image first`,
        );
      }
      const imageId = crypto.randomUUID();
      let result: Awaited<ReturnType<typeof requestBuildOverLost>>;
      try {
        // A tag the catalog holds as built but the agent was just found without: see requestBuildOverLost.
        result = await requestBuildOverLost(
          deps.store,
          { name, client },
          {
            tenantId: tenant.id,
            imageId,
            agentId: query.agent_id,
            name: query.name,
            tag: query.tag,
            dockerfile: query.dockerfile,
            contextBytes: staged.size,
            contextId,
            contextSha256: staged.sha256,
            by: actor.userId,
            at: deps.clock().toISOString(),
          },
          context,
        );
      } catch (error) {
        await client.removeContext(contextId).catch(() => false);
        throw error;
      }
      const image = result.state.images[imageId];
      if (!image) throw new Error('unreachable: the build was just recorded');
      try {
        await queueImageBuild(deps.db as unknown as Kysely<JobTables>, {
          imageId,
          tenantId: tenant.id,
          streamId: imagesStreamId(tenant.id),
        });
      } catch (error) {
        await recordImageBuildFailed(
          deps.store,
          {
            tenantId: tenant.id,
            imageId,
            reason: 'the build could not be queued',
            at: deps.clock().toISOString(),
          },
          { metadata: context.metadata },
        ).catch(() => undefined);
        throw error;
      }
      c.header('Location', `/v1/images/${imageId}`);
      c.header('X-Position', result.position.toString());
      return c.json(present(image), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images',
      tags: ['Images'],
      summary: 'The tenant’s images (deleted ones left out)',
      responses: { 200: jsonContent(ImageList, 'Images, newest first'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const { images } = await tenantImages(deps.store, tenant.id);
      const items = Object.values(images)
        .filter((image) => image.status !== 'deleted')
        .sort((a, b) => b.requestedAt.localeCompare(a.requestedAt))
        .map(present);
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/{id}',
      tags: ['Images'],
      summary: 'One image: its build’s state and its pushes',
      request: { params: IdParam },
      responses: { 200: jsonContent(Image, 'The image'), ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      return c.json(present(await visible(tenant.id, c.req.valid('param').id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/{id}/stream',
      tags: ['Images'],
      summary:
        'The build’s output as Server-Sent Events, the frames of a tool’s output (resumable with Last-Event-ID or ?after=)',
      request: {
        params: IdParam,
        query: z.object({ after: z.coerce.number().int().min(0).optional() }),
      },
      responses: {
        200: {
          description: 'An event stream of {seq, kind, data} frames, ending with the final status',
          content: { 'text/event-stream': { schema: z.string() } },
        },
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const image = await visible(tenant.id, c.req.valid('param').id);
      const after = resumePoint(c.req.header('last-event-id'), c.req.valid('query').after);
      return c.body(frameStream(deps.hub, image.imageId, after), 200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'transfer-encoding': 'chunked',
      });
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/{id}/log',
      tags: ['Images'],
      summary: 'The build’s output as text, so far',
      request: { params: IdParam },
      responses: {
        200: { description: 'The output', content: { 'text/plain': { schema: z.string() } } },
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const image = await visible(tenant.id, c.req.valid('param').id);
      return c.text(await textOf(output, image.imageId), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/{id}/cancel',
      tags: ['Images'],
      summary:
        'Cancel a build under way: a queued one never starts, a running one is aborted on its agent (which stops the engine’s build); the image ends `cancelled`, its output so far kept (409 once the build ended)',
      request: { params: IdParam },
      responses: { 200: jsonContent(Image, 'Cancelled'), ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const image = await visible(tenant.id, c.req.valid('param').id);
      const result = await cancelImageBuild(
        deps.store,
        { tenantId: tenant.id, imageId: image.imageId, by: actor.userId, at: deps.clock().toISOString() },
        context,
      );
      const now = result.state.images[image.imageId]!;
      // Never started: no worker writes its end, so the final frame is written here (the job, when it
      // comes, finds the image cancelled and only drops the staged context). A started build's worker
      // hears the cancel (announced after it is recorded), aborts the agent's build and writes the frame.
      if (now.startedBy === undefined) {
        const log = outputWriter(output, image.imageId, { capBytes: IMAGE_OUTPUT_CAP_BYTES });
        log.sink.write('stderr', 'the build was cancelled before it started\n');
        await log.status('cancelled');
        await log.close().catch(() => undefined);
      } else if (now.status === 'cancelled') {
        await sql`select pg_notify(${IMAGE_CANCEL_CHANNEL}, current_schema() || ':' || ${image.imageId}::text)`.execute(
          deps.db,
        );
      }
      c.header('X-Position', result.position.toString());
      return c.json(present(now), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/{id}/pushes/{push}/log',
      tags: ['Images'],
      summary: 'A push’s progress lines (or the reason it was refused) as text',
      request: { params: PushParams },
      responses: {
        200: { description: 'The output', content: { 'text/plain': { schema: z.string() } } },
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const { id, push } = c.req.valid('param');
      const image = await visible(tenant.id, id);
      const known =
        image.pushes.some((p) => p.pushId === push) || image.pushFailures.some((p) => p.pushId === push);
      if (!known) throw notFound('push');
      return c.text(await textOf(output, push), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/{id}/push',
      tags: ['Images'],
      summary:
        'Push a built image to the tenant’s registry as `host/name:tag` (its agent tags and pushes it with the sealed credentials)',
      request: { params: IdParam },
      responses: {
        200: jsonContent(Image, 'Pushed: `pushed_ref` names it'),
        502: jsonContent(z.any(), 'The registry refused the push'),
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const image = await visible(tenant.id, c.req.valid('param').id);
      if (image.status !== 'built') {
        throw new RequestError(
          409,
          'rule-violated',
          `the image is ${image.status}: only a built image is pushed`,
        );
      }
      // Both read at once (one wait instead of two on a loaded host); the missing registry is still
      // the answer given first.
      const [credentials, agentCall] = await Promise.all([
        deps.registries.credentials(tenant.id),
        clientOf(tenant.id, image.agentId, 10 * 60_000).then(
          (found) => ({ found }),
          (error: unknown) => ({ error }),
        ),
      ]);
      if (!credentials) {
        throw new RequestError(
          409,
          'no-image-registry',
          'the tenant has no image registry: PUT /v1/images/registry',
        );
      }
      if ('error' in agentCall) throw agentCall.error;
      const { name, client } = agentCall.found;
      const target = `${credentials.host}/${image.name}:${image.tag}`;
      // The push's lines are frames of its own, under a push id its record links to.
      const pushId = crypto.randomUUID();
      const log = outputWriter(output, pushId, { capBytes: IMAGE_OUTPUT_CAP_BYTES });
      const refused = async (
        status: number,
        type: 'image-push-failed' | 'agent-unavailable',
        reason: string,
      ) => {
        log.sink.write('stderr', `${reason}\n`);
        await log.status('failed', { reason });
        await log.close().catch(() => undefined);
        await recordImagePushFailed(
          deps.store,
          {
            tenantId: tenant.id,
            imageId: image.imageId,
            ref: target,
            pushId,
            reason,
            by: actor.userId,
            at: deps.clock().toISOString(),
          },
          context,
        );
        return new RequestError(status, type, reason);
      };
      let pushed: { digest: string | null; output?: string };
      try {
        pushed = await client.pushImage({
          source: localRefOf(image),
          target,
          ...(credentials.username || credentials.password
            ? {
                auth: {
                  username: credentials.username,
                  password: credentials.password,
                  server_address: credentials.host,
                },
              }
            : {}),
        });
      } catch (error) {
        if (error instanceof AgentCallError && error.status < 500 && error.status !== 404) {
          throw await refused(502, 'image-push-failed', `pushing ${target}: ${error.message}`);
        }
        if (error instanceof AgentCallError && error.status === 404) {
          throw new RequestError(
            409,
            'rule-violated',
            `the agent ${name} no longer holds ${localRefOf(image)}`,
          );
        }
        throw await refused(503, 'agent-unavailable', `the agent ${name} did not answer the push`);
      }
      log.sink.write('stdout', pushed.output ?? '');
      // The log's last frames and the record are independent writes: made at once (the log still
      // reads completed no later than before, when it was written first).
      const [result] = await Promise.all([
        recordImagePushed(
          deps.store,
          {
            tenantId: tenant.id,
            imageId: image.imageId,
            ref: target,
            digest: pushed.digest,
            pushId,
            by: actor.userId,
            at: deps.clock().toISOString(),
          },
          context,
        ),
        log
          .status('completed', { digest: pushed.digest })
          .then(() => log.close())
          .catch(() => undefined),
      ]);
      c.header('X-Position', result.position.toString());
      return c.json(present(result.state.images[image.imageId]!), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/images/{id}',
      tags: ['Images'],
      summary:
        'Delete an image from the catalog, its agent and the tenant’s registry (409 naming the workspaces while any runs it; 409 while it builds: cancel it first); `X-Registry-Deletion` says what became of the pushed manifests: `removed`, `kept` (the registry refused: recorded with why, the catalog delete goes on) or `none`',
      request: { params: IdParam },
      responses: {
        204: {
          description: 'Deleted',
          headers: z.object({ 'X-Registry-Deletion': z.enum(['removed', 'kept', 'none']) }),
        },
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const catalog = await tenantImages(deps.store, tenant.id);
      const image = catalog.images[c.req.valid('param').id];
      if (!image || image.status === 'deleted') throw notFound('image');
      await deps.readModels.caughtUp(c, ['workspaceList']);
      // Only what this image alone answers for: a tag built again since it was lost (or a ref another
      // image was pushed to too) is the other image's, neither removed nor a reason to refuse.
      const refs = ownRefsOf(image, catalog);
      const using =
        refs.length === 0
          ? []
          : await (deps.db as unknown as Kysely<WorkspaceListTables>)
              .selectFrom('workspace_list')
              .select(['id', 'status'])
              .where('tenant_id', '=', tenant.id)
              .where('image', 'in', refs)
              .where('status', '!=', 'deleted')
              .execute();
      const usedBy = using.map((w) => w.id);
      // Refused ones (building, in use) are refused before the registry is touched.
      const registry =
        image.status === 'building' || usedBy.length > 0
          ? { registry: 'none' as const }
          : await removeFromRegistry(deps, tenant.id, image, refs);
      const result = await deleteImage(
        deps.store,
        {
          tenantId: tenant.id,
          imageId: image.imageId,
          usedBy,
          ...registry,
          by: actor.userId,
          at: deps.clock().toISOString(),
        },
        context,
      );
      if (registry.registry === 'kept') {
        deps.logger?.warn(
          { imageId: image.imageId, detail: registry.registryDetail },
          'the registry kept a deleted image',
        );
      }
      c.header('X-Registry-Deletion', registry.registry);
      // The catalog entry is gone; the agent's copy goes too (an absent or silent agent is left as is).
      if (refs.length > 0) {
        try {
          const { client } = await clientOf(tenant.id, image.agentId, 10_000);
          for (const ref of refs) await client.removeImage(ref).catch(() => false);
        } catch {}
      }
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );
  return app;
}

/** The text of a run's stdout and stderr frames. */
async function textOf(db: Kysely<ToolOutputTables>, key: string): Promise<string> {
  const parts: string[] = [];
  for (let after = 0; ; ) {
    const page = await readFrames(db, key, after, 1000);
    for (const f of page) if (f.kind === 'stdout' || f.kind === 'stderr') parts.push(f.data);
    if (page.length < 1000) break;
    after = page[page.length - 1]!.seq;
  }
  return parts.join('');
}

type WorkspaceListTables = {
  workspace_list: { id: string; tenant_id: string; image: string; status: string };
};
