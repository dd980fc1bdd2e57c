import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { notFound } from '../../commands/kernel/index.ts';
import { localRefOf, recordImagePushed, recordImagePushFailed } from '../../commands/workspaces/index.ts';
import { IMAGE_OUTPUT_CAP_BYTES } from '../../processes/workspaces/index.ts';
import { outputWriter } from '../../tools/index.ts';
import { AgentCallError } from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, RequestError } from '../kit/index.ts';
import { workspacesContext, workspacesProblems } from './context.ts';
import { type ImageAccess, type ImageCatalogDeps, textOf } from './image-access.ts';
import { IdParam, Image, PushParams, present } from './image-views.ts';

/** Push a built image to the tenant's registry as `host/name:tag`; read a push's lines. */
export function imagePushRoutes(app: OpenAPIHono<AppEnv>, deps: ImageCatalogDeps, access: ImageAccess): void {
  const { output, visible, clientOf } = access;
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
}
