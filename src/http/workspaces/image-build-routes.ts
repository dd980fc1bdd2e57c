import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import {
  buildOptions,
  cancelImageBuild,
  imagesStreamId,
  localRefOf,
  recordImageBuildFailed,
} from '../../commands/workspaces/index.ts';
import type { JobTables } from '../../processes/runtime/index.ts';
import {
  IMAGE_CANCEL_CHANNEL,
  IMAGE_OUTPUT_CAP_BYTES,
  queueImageBuild,
} from '../../processes/workspaces/index.ts';
import { outputText, outputWriter } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, RequestError } from '../kit/index.ts';
import { FRAME_STREAM_ANSWER, framesFrom, StreamQuery } from '../tools/index.ts';
import { workspacesContext, workspacesProblems } from './context.ts';
import { type ImageAccess, type ImageCatalogDeps, MAX_BUILD_CONTEXT_BYTES } from './image-access.ts';
import { requestBuildOverLost } from './image-rebuild.ts';
import { stageContext } from './image-staging.ts';
import { BuildQuery, buildArgsOf, IdParam, Image, present } from './image-views.ts';

/** Build on a chosen agent from a tar context; follow, read and cancel the build. */
export function imageBuildRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: ImageCatalogDeps,
  access: ImageAccess,
): void {
  const { output, visible, clientOf } = access;
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
            ...buildOptions({
              buildArgs: buildArgsOf(query.build_arg),
              target: query.target,
              noCache: query.no_cache === 'true',
            }),
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
          agentId: query.agent_id,
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
      path: '/v1/images/{id}/stream',
      tags: ['Images'],
      summary:
        'The build’s output as Server-Sent Events, the frames of a tool’s output (resumable with Last-Event-ID or ?after=)',
      request: { params: IdParam, query: StreamQuery },
      responses: { 200: FRAME_STREAM_ANSWER, ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const image = await visible(tenant.id, c.req.valid('param').id);
      return framesFrom(c, deps.hub, image.imageId, c.req.valid('query').after);
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
      return c.text(await outputText(output, image.imageId), 200);
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
}
