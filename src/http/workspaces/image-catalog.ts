import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import type { CommandContext } from '../../commands/kernel/index.ts';
import { notFound } from '../../commands/kernel/index.ts';
import {
  deleteImage,
  findAgent,
  findImage,
  ImageName,
  type ImageRecord,
  ImageTag,
  localRefOf,
  recordImageBuildFailed,
  recordImageBuilt,
  recordImagePushed,
  refsOf,
  requestImageBuild,
  tenantImages,
} from '../../commands/workspaces/index.ts';
import type { Logger } from '../../logger.ts';
import { outputWriter, readFrames, type StreamHub, type ToolOutputTables } from '../../tools/index.ts';
import {
  AgentCallError,
  agentClient,
  type ImageRegistries,
  type ImageRegistry,
} from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, RequestError, readTables, validationHook } from '../kit/index.ts';
import { frameStream, resumePoint } from '../tools/index.ts';
import { type WorkspacesDeps, workspacesContext, workspacesProblems } from './context.ts';

/** The largest build context taken (the agent signs and reads it whole). */
export const MAX_BUILD_CONTEXT_BYTES = 64 * 1024 * 1024;
/** The build output kept per image: beyond it one `truncated` frame, the rest dropped. */
const OUTPUT_CAP_BYTES = 1024 * 1024;

export interface ImageCatalogDeps extends WorkspacesDeps {
  registries: ImageRegistries;
  hub: StreamHub;
  logger?: Pick<Logger, 'error'>;
}

const IdParam = z.object({ id: z.uuid() });
const Push = z.object({ ref: z.string(), digest: z.string().nullable(), by: z.string(), at: z.string() });
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
    status: z.enum(['building', 'built', 'failed', 'deleted']),
    docker_id: z.string().nullable(),
    reason: z.string().nullable(),
    requested_by: z.string(),
    requested_at: z.string(),
    finished_at: z.string().nullable(),
    /** The latest push's reference in the tenant's registry: what a workspace names to run it anywhere. */
    pushed_ref: z.string().nullable(),
    pushes: z.array(Push),
    links: z.object({ stream: z.string(), log: z.string() }),
  })
  .openapi('Image');
const ImageList = z.object({ items: z.array(Image) }).openapi('ImageList');
const BuildQuery = z.object({
  agent_id: z.uuid().openapi({ description: 'The agent that builds it' }),
  name: ImageName,
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
    pushes: image.pushes,
    links: { stream: `/v1/images/${image.imageId}/stream`, log: `/v1/images/${image.imageId}/log` },
  };
}

const presentRegistry = (registry: ImageRegistry) => ({
  url: registry.url,
  host: registry.host,
  username: registry.username,
  password_set: registry.passwordSet,
  updated_at: registry.updatedAt,
});

/** Whether the bytes open with a tar header: 512 bytes whose checksum field matches their sum. */
export function looksLikeTar(bytes: Uint8Array): boolean {
  if (bytes.length < 512) return false;
  const field = new TextDecoder()
    .decode(bytes.subarray(148, 156))
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]{1,8}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (bytes[i] ?? 0);
  return sum === Number.parseInt(field, 8);
}

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
      const declared = Number(c.req.header('content-length') ?? '0');
      if (declared > MAX_BUILD_CONTEXT_BYTES) {
        throw new RequestError(
          413,
          'body-too-large',
          `the build context is over ${MAX_BUILD_CONTEXT_BYTES} bytes`,
        );
      }
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      if (bytes.length > MAX_BUILD_CONTEXT_BYTES) {
        throw new RequestError(
          413,
          'body-too-large',
          `the build context is over ${MAX_BUILD_CONTEXT_BYTES} bytes`,
        );
      }
      if (!looksLikeTar(bytes)) {
        throw new RequestError(422, 'bad-build-context', 'the build context is not a tar archive');
      }
      const { client } = await clientOf(tenant.id, query.agent_id);
      const imageId = crypto.randomUUID();
      const result = await requestImageBuild(
        deps.store,
        {
          tenantId: tenant.id,
          imageId,
          agentId: query.agent_id,
          name: query.name,
          tag: query.tag,
          dockerfile: query.dockerfile,
          contextBytes: bytes.length,
          by: actor.userId,
          at: deps.clock().toISOString(),
        },
        context,
      );
      const image = result.state.images[imageId];
      if (!image) throw new Error('unreachable: the build was just recorded');
      void runBuild(deps, output, { tenantId: tenant.id, image, bytes, client, context });
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
      const parts: string[] = [];
      for (let after = 0; ; ) {
        const page = await readFrames(output, image.imageId, after, 1000);
        for (const f of page) if (f.kind === 'stdout' || f.kind === 'stderr') parts.push(f.data);
        if (page.length < 1000) break;
        after = page[page.length - 1]!.seq;
      }
      return c.text(parts.join(''), 200);
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
      const credentials = await deps.registries.credentials(tenant.id);
      if (!credentials) {
        throw new RequestError(
          409,
          'no-image-registry',
          'the tenant has no image registry: PUT /v1/images/registry',
        );
      }
      const { name, client } = await clientOf(tenant.id, image.agentId, 10 * 60_000);
      const target = `${credentials.host}/${image.name}:${image.tag}`;
      let pushed: { digest: string | null };
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
          throw new RequestError(502, 'image-push-failed', `pushing ${target}: ${error.message}`);
        }
        if (error instanceof AgentCallError && error.status === 404) {
          throw new RequestError(
            409,
            'rule-violated',
            `the agent ${name} no longer holds ${localRefOf(image)}`,
          );
        }
        throw new RequestError(503, 'agent-unavailable', `the agent ${name} did not answer the push`);
      }
      const result = await recordImagePushed(
        deps.store,
        {
          tenantId: tenant.id,
          imageId: image.imageId,
          ref: target,
          digest: pushed.digest,
          by: actor.userId,
          at: deps.clock().toISOString(),
        },
        context,
      );
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
        'Delete an image from the catalog and its agent (409 naming the workspaces while any runs it); the registry keeps what was pushed',
      request: { params: IdParam },
      responses: { 204: { description: 'Deleted' }, ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const image = await visible(tenant.id, c.req.valid('param').id);
      await deps.readModels.caughtUp(c, ['workspaceList']);
      const refs = refsOf(image);
      const using = await (deps.db as unknown as Kysely<WorkspaceListTables>)
        .selectFrom('workspace_list')
        .select(['id', 'status'])
        .where('tenant_id', '=', tenant.id)
        .where('image', 'in', refs)
        .where('status', '!=', 'deleted')
        .execute();
      const result = await deleteImage(
        deps.store,
        {
          tenantId: tenant.id,
          imageId: image.imageId,
          usedBy: using.map((w) => w.id),
          by: actor.userId,
          at: deps.clock().toISOString(),
        },
        context,
      );
      // The catalog entry is gone; the agent's copy goes too (an absent or silent agent is left as is).
      try {
        const { client } = await clientOf(tenant.id, image.agentId, 10_000);
        for (const ref of refs) await client.removeImage(ref).catch(() => false);
      } catch {}
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );
  return app;
}

type WorkspaceListTables = {
  workspace_list: { id: string; tenant_id: string; image: string; status: string };
};

/**
 * Runs a build on its agent in this process: the output into bounded frames (the tools' output
 * table, keyed by the image id, so the tools' stream machinery serves it), the outcome as an event,
 * then the final status frame that ends every stream.
 */
async function runBuild(
  deps: ImageCatalogDeps,
  db: Kysely<ToolOutputTables>,
  run: {
    tenantId: string;
    image: ImageRecord;
    bytes: Uint8Array;
    client: ReturnType<typeof agentClient>;
    context: CommandContext;
  },
) {
  const { image } = run;
  const writer = outputWriter(db, image.imageId, { capBytes: OUTPUT_CAP_BYTES });
  const background: CommandContext = { metadata: run.context.metadata };
  try {
    await writer.status('running');
    let built: { id: string } | undefined;
    let reason: string | undefined;
    try {
      built = await run.client.buildImage(
        new Uint8Array(run.bytes),
        { tag: localRefOf(image), dockerfile: image.dockerfile },
        (line) => writer.sink.write('stdout', line),
      );
    } catch (error) {
      reason = error instanceof Error ? error.message : 'the build failed';
      writer.sink.write('stderr', `${reason}\n`);
    }
    const at = deps.clock().toISOString();
    if (built) {
      await recordImageBuilt(
        deps.store,
        { tenantId: run.tenantId, imageId: image.imageId, dockerId: built.id, at },
        background,
      );
      await writer.status('completed', { image_id: built.id });
    } else {
      await recordImageBuildFailed(
        deps.store,
        { tenantId: run.tenantId, imageId: image.imageId, reason: reason ?? 'the build failed', at },
        background,
      );
      await writer.status('failed', { reason });
    }
    await writer.close();
  } catch (error) {
    deps.logger?.error({ err: error, imageId: image.imageId }, 'image build bookkeeping failed');
  }
}
