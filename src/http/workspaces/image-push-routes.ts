import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { notFound } from '../../commands/kernel/index.ts';
import {
  localRefOf,
  pushKnown,
  recordImagePushed,
  recordImagePushFailed,
  startImagePush,
} from '../../commands/workspaces/index.ts';
import { IMAGE_OUTPUT_CAP_BYTES } from '../../processes/workspaces/index.ts';
import { outputText, outputWriter } from '../../tools/index.ts';
import { AgentCallError } from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, RequestError } from '../kit/index.ts';
import { FRAME_STREAM_ANSWER, frameStream, framesFrom, SSE_HEADERS, StreamQuery } from '../tools/index.ts';
import { workspacesContext, workspacesProblems } from './context.ts';
import { type ImageAccess, type ImageCatalogDeps, PUSH_TIMEOUT_MS } from './image-access.ts';
import { IdParam, Image, PushParams, present } from './image-views.ts';

/** Push a built image to the tenant's registry as `host/name:tag`; follow or read a push's lines. */
export function imagePushRoutes(app: OpenAPIHono<AppEnv>, deps: ImageCatalogDeps, access: ImageAccess): void {
  const { output, visible, clientOf } = access;
  /** The push of an image the tenant sees (404 for an unknown push, or another image's). */
  const visiblePush = async (tenantId: string, { id, push }: { id: string; push: string }) => {
    if (!pushKnown(await visible(tenantId, id), push)) throw notFound('push');
    return push;
  };
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/{id}/push',
      tags: ['Images'],
      summary:
        'Push a built image to the tenant’s registry as `host/name:tag` (its agent tags and pushes it with the sealed credentials); with `Accept: text/event-stream` follow it as it goes',
      request: { params: IdParam },
      responses: {
        200: {
          description:
            'Pushed: `pushed_ref` names it. Asked for `text/event-stream`: the push’s frames as Server-Sent Events as they are written (as a build’s stream), ending with its final status (`completed` with `digest` and `ref`, or `failed` with `reason`); `X-Push-Id` names the push, whose log `pushes[].log` (or `push_failures[].log`) links once it ends',
          content: {
            'application/json': { schema: Image },
            'text/event-stream': { schema: z.string() },
          },
        },
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
        clientOf(tenant.id, image.agentId, PUSH_TIMEOUT_MS).then(
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
      // The push's lines are frames of its own, under a push id its record links to. Its start is
      // recorded while the agent begins (one append less on the push's path; its end waits for it):
      // from then on the image lists it under way, and a client that loses the stream follows it
      // again by that id (GET …/pushes/{push}/stream).
      const pushId = crypto.randomUUID();
      const started = startImagePush(
        deps.store,
        {
          tenantId: tenant.id,
          imageId: image.imageId,
          ref: target,
          pushId,
          by: actor.userId,
          at: deps.clock().toISOString(),
        },
        context,
      );
      // Awaited before either end is recorded, and before a followed push's stream is answered.
      started.catch(() => undefined);
      const log = outputWriter(output, pushId, { capBytes: IMAGE_OUTPUT_CAP_BYTES });
      const refused = async (
        status: number,
        type: 'image-push-failed' | 'agent-unavailable' | 'rule-violated',
        reason: string,
      ) => {
        log.sink.write('stderr', `${reason}\n`);
        // Recorded before the final frame: a client that saw the stream end reads the failure.
        await started;
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
        await log.status('failed', { reason });
        await log.close().catch(() => undefined);
        return new RequestError(status, type, reason);
      };
      const followed = (c.req.header('accept') ?? '').includes('text/event-stream');
      const push = async () => {
        let pushed: { digest: string | null };
        try {
          pushed = await client.pushImage(
            {
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
            },
            // Each line kept as the agent reports it: a client following the push sees it go.
            (line) => log.sink.write('stdout', line),
          );
        } catch (error) {
          if (error instanceof AgentCallError && error.status < 500 && error.status !== 404) {
            throw await refused(502, 'image-push-failed', `pushing ${target}: ${error.message}`);
          }
          if (error instanceof AgentCallError && error.status === 404) {
            const reason = `the agent ${name} no longer holds ${localRefOf(image)}`;
            // The registry never saw it, but the push started, so it ends: refused, with why.
            throw await refused(409, 'rule-violated', reason);
          }
          throw await refused(503, 'agent-unavailable', `the agent ${name} did not answer the push`);
        }
        await started;
        const recorded = recordImagePushed(
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
        );
        const completed = () =>
          log
            .status('completed', { digest: pushed.digest, ref: target })
            .then(() => log.close())
            .catch(() => undefined);
        // Followed, the stream ends only once the push is recorded: a client that saw it end reads
        // it. Otherwise the answer comes after both, so the log's last frames and the record are
        // written at once (independent writes).
        if (followed) {
          const result = await recorded;
          await completed();
          return result;
        }
        const [result] = await Promise.all([recorded, completed()]);
        return result;
      };
      if (followed) {
        // Followed: the push's frames from its first, ending with its final status; the push goes on
        // whether or not the client stays (its outcome is recorded either way, as without the stream).
        void push().catch(async (error: unknown) => {
          // A refusal already wrote its final frame; anything else still ends the stream, and is logged.
          if (error instanceof RequestError) return;
          deps.logger?.error({ err: error, imageId: image.imageId, pushId }, 'a followed push failed');
          await log
            .status('failed', { reason: 'the push failed unexpectedly' })
            .then(() => log.close())
            .catch(() => undefined);
        });
        // Its id answers only once its start is recorded: from then on the id is followed again.
        await started;
        // The push's id, which its entry in `pushes` (or `push_failures`) carries once it ends.
        return c.body(frameStream(deps.hub, pushId, 0), 200, {
          ...SSE_HEADERS,
          'x-push-id': pushId,
        }) as never;
      }
      const result = await push();
      c.header('X-Position', result.position.toString());
      return c.json(present(result.state.images[image.imageId]!), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/{id}/pushes/{push}/stream',
      tags: ['Images'],
      summary:
        'A push’s progress lines as Server-Sent Events, the frames of a build’s stream (resumable with Last-Event-ID or ?after=): live while it goes, then its final status; a push that ended replays to its final status',
      request: { params: PushParams, query: StreamQuery },
      responses: { 200: FRAME_STREAM_ANSWER, ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const push = await visiblePush(workspacesContext(c).tenant.id, c.req.valid('param'));
      return framesFrom(c, deps.hub, push, c.req.valid('query').after);
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
      const push = await visiblePush(workspacesContext(c).tenant.id, c.req.valid('param'));
      return c.text(await outputText(output, push), 200);
    },
  );
}
