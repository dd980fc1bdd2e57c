import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { buildOptions } from '../../commands/workspaces/index.ts';
import { ContainerEngineError, type RegistryAuth } from '../docker/port.ts';
import type { AgentAppDeps } from './app-deps.ts';
import type { BuildContextStore } from './build-contexts.ts';
import { NDJSON, ndjsonOutcome } from './ndjson-outcome.ts';
import { AgentRefusal, invalid, signed } from './problems.ts';
import {
  BuildQuery,
  ContextParams,
  ImageParams,
  json,
  PushBody,
  Pushed,
  problem,
  Staged,
} from './schemas.ts';

/** Whether a request streams its body (signed over `UNSIGNED-PAYLOAD`): a build context being staged. */
export const streamsContextBody = (method: string, pathname: string) =>
  method === 'PUT' && /^\/v1\/images\/contexts\/[^/]+$/.test(pathname);

export const authOf = (
  auth: { username: string; password: string; server_address: string } | undefined,
): RegistryAuth | undefined =>
  auth ? { username: auth.username, password: auth.password, serveraddress: auth.server_address } : undefined;

/**
 * Images on this host: stage a tar build context (streamed to disk, hashed), build one from a staged
 * context (the build's output streamed back as NDJSON lines, `{"stream": …}` then `{"done": {"id"}}`
 * or `{"error"}`; a client that goes stops the build), push one to a registry, remove one.
 */
export function imageRoutes(deps: AgentAppDeps, contexts: BuildContextStore) {
  const app = new OpenAPIHono({ defaultHook: invalid });

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/images/contexts/{id}',
      tags: ['Images'],
      summary:
        'Stage a tar build context (signed over UNSIGNED-PAYLOAD; the bytes stream to disk, hashed): its size and SHA-256',
      security: signed,
      request: {
        params: ContextParams,
        body: { content: { 'application/x-tar': { schema: z.any() } }, required: true },
      },
      responses: {
        201: json(Staged, 'Staged; a build names it by id and SHA-256'),
        401: problem('Not signed, stale or replayed'),
        409: problem('A context with this id is staged'),
        413: problem('The context is larger than the agent takes'),
        422: problem('The body is not a tar archive'),
      },
    }),
    async (c) => c.json(await contexts.stage(c.req.valid('param').id, c.req.raw.body), 201),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/images/contexts/{id}',
      tags: ['Images'],
      summary: 'Delete a staged build context (a build deletes its own; unbuilt ones expire after an hour)',
      security: signed,
      request: { params: ContextParams },
      responses: { 204: { description: 'Deleted' }, 401: problem('Not signed, stale or replayed') },
    }),
    async (c) => {
      await contexts.remove(c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/build',
      tags: ['Images'],
      summary:
        'Build an image from the staged context `context` (its SHA-256 named, both signed in the target), tagged `tag`; the output streams back as NDJSON, and a client that goes stops the build',
      security: signed,
      request: { query: BuildQuery },
      responses: {
        200: {
          description: 'NDJSON lines: {"stream"} as the build writes, then {"done":{"id"}} or {"error"}',
          content: { 'application/x-ndjson': { schema: z.string() } },
        },
        401: problem('Not signed, stale or replayed'),
        404: problem('No such staged context'),
        409: problem('The staged context’s SHA-256 is not the one named'),
        422: problem('The engine refused the context (not a tar, no Dockerfile)'),
      },
    }),
    async (c) => {
      const { tag, dockerfile, context, sha256, build_args, target, no_cache } = c.req.valid('query');
      // A tag the host holds is never built over: it may be an image workspaces run (one an admin
      // loaded, or a base image), which a tenant's operator must not replace. The engine is asked
      // while the context is opened (its files read, its Dockerfile checked): one wait instead of two,
      // and the tag's answer still decides first.
      const [held, opened] = await Promise.allSettled([
        deps.engine.image(tag).then(
          () => true,
          (error: unknown) => {
            if (error instanceof ContainerEngineError && error.code === 'image_not_found') return false;
            throw error;
          },
        ),
        contexts.open(context, sha256, dockerfile),
      ]);
      if (held.status === 'rejected' || held.value) {
        if (opened.status === 'fulfilled') opened.value.destroy();
        if (held.status === 'rejected') throw held.reason;
        await contexts.remove(context);
        throw new AgentRefusal(409, 'conflict', `this host already holds ${tag}: it is not built over`);
      }
      if (opened.status === 'rejected') throw opened.reason;
      const source = opened.value;
      // A byte stream of NDJSON lines: typed as the text the schema documents.
      return (await ndjsonOutcome(c, {
        run: async (onLine, signal) => {
          const options = {
            tag,
            dockerfile,
            ...buildOptions({ buildArgs: build_args, target, noCache: no_cache === 'true' }),
          };
          const built = await deps.engine.build(source, options, onLine, signal);
          // Built after its client went: nobody records it, so it does not stay.
          if (signal.aborted) await deps.engine.removeImage(tag).catch(() => undefined);
          return built;
        },
        done: (built) => ({ id: built.id }),
        failed: (error) => {
          if (!(error instanceof Error) || error.name !== 'ContainerEngineError') {
            deps.logger.error({ err: error }, 'image build failed');
          }
          return error instanceof Error ? error.message : 'the build failed';
        },
        // Removed once the outcome is sent, not before: the client (a worker waiting to record the
        // build) does not wait on the disk (measured 2–14 ms).
        after: () => contexts.remove(context),
      })) as never;
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/push',
      tags: ['Images'],
      summary:
        'Tag `source` as `target` and push it with the credentials in the (signed) body; with `Accept: application/x-ndjson` the push’s lines stream back as they come',
      security: signed,
      request: { body: { content: { 'application/json': { schema: PushBody } }, required: true } },
      responses: {
        200: {
          description:
            'Pushed; or, asked for NDJSON, lines {"stream"} as the push reports them, then {"done":{"target","digest"}} or {"error"}',
          content: {
            'application/json': { schema: Pushed },
            'application/x-ndjson': { schema: z.string() },
          },
        },
        401: problem('Not signed, stale or replayed'),
        404: problem('No such image on this host'),
        422: problem('The registry refused the push'),
        503: problem('The engine does not answer'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const push = (onLine: (line: string) => void) =>
        deps.engine.push(body.source, body.target, authOf(body.auth), onLine);
      // Asked for NDJSON (Warden since it streams a push's lines as they come): each line as the
      // engine reports it, then the outcome. Otherwise one answer once pushed, as before.
      if ((c.req.header('accept') ?? '').includes(NDJSON)) {
        return (await ndjsonOutcome(c, {
          run: push,
          done: (pushed) => ({ target: body.target, digest: pushed.digest }),
          failed: (error) => (error instanceof Error ? error.message : 'the push failed'),
        })) as never;
      }
      const output: string[] = [];
      const pushed = await push((line) => {
        if (output.length < 1000) output.push(line);
      });
      return c.json({ target: body.target, digest: pushed.digest, output: output.join('') }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/images/{ref}',
      tags: ['Images'],
      summary: 'Remove an image tag from this host (the reference URL-encoded)',
      security: signed,
      request: { params: ImageParams },
      responses: {
        204: { description: 'Removed' },
        401: problem('Not signed, stale or replayed'),
        404: problem('No such image on this host'),
        409: problem('A container uses the image'),
      },
    }),
    async (c) => {
      await deps.engine.removeImage(c.req.valid('param').ref);
      return c.body(null, 204);
    },
  );
  return app;
}
