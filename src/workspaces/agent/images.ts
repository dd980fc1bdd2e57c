import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { ContainerEngineError, type RegistryAuth } from '../docker/port.ts';
import type { AgentAppDeps } from './app-deps.ts';
import type { BuildContextStore } from './build-contexts.ts';
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
      const { tag, dockerfile, context, sha256 } = c.req.valid('query');
      // A tag the host holds is never built over: it may be an image workspaces run (one an admin
      // loaded, or a base image), which a tenant's operator must not replace.
      const held = await deps.engine.image(tag).then(
        () => true,
        (error: unknown) => {
          if (error instanceof ContainerEngineError && error.code === 'image_not_found') return false;
          throw error;
        },
      );
      if (held) {
        await contexts.remove(context);
        throw new AgentRefusal(409, 'conflict', `this host already holds ${tag}: it is not built over`);
      }
      const source = await contexts.open(context, sha256, dockerfile);
      const encoder = new TextEncoder();
      // The client going (Warden cancelled, or its worker died) aborts the engine's build.
      const abort = new AbortController();
      const stop = () => abort.abort(new Error('the client went'));
      c.req.raw.signal?.addEventListener('abort', stop, { once: true });
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      let open = true;
      const readable = new ReadableStream<Uint8Array>({
        start: (given) => {
          controller = given;
        },
        cancel: () => {
          open = false;
          stop();
        },
      });
      const send = (line: object) => {
        if (!open) return;
        try {
          controller.enqueue(encoder.encode(`${JSON.stringify(line)}\n`));
        } catch {
          open = false;
        }
      };
      const close = () => {
        if (!open) return;
        open = false;
        try {
          controller.close();
        } catch {}
      };
      let wrote = false;
      let firstLine = () => {};
      const started = new Promise<void>((resolve) => {
        firstLine = resolve;
      });
      const outcome = deps.engine
        .build(
          source,
          { tag, dockerfile },
          (line) => {
            wrote = true;
            firstLine();
            send({ stream: line });
          },
          abort.signal,
        )
        .then(
          (built) => ({ ok: true as const, built }),
          (error: unknown) => ({ ok: false as const, error }),
        )
        .finally(() => c.req.raw.signal?.removeEventListener('abort', stop));
      // Removed once the outcome is sent, not before: the client (a worker waiting to record the
      // build) does not wait on the disk (measured 2–14 ms).
      const dropContext = () => contexts.remove(context).catch(() => undefined);
      const first = await Promise.race([started.then(() => undefined), outcome]);
      // Refused before any output: answered as a problem, not as a stream.
      if (first && !first.ok && !wrote) {
        await dropContext();
        throw first.error;
      }
      void outcome.then(async (result) => {
        if (result.ok) {
          // Built after its client went: nobody records it, so it does not stay.
          if (abort.signal.aborted) await deps.engine.removeImage(tag).catch(() => undefined);
          send({ done: { id: result.built.id } });
        } else {
          if (!(result.error instanceof Error) || result.error.name !== 'ContainerEngineError') {
            deps.logger.error({ err: result.error }, 'image build failed');
          }
          send({ error: result.error instanceof Error ? result.error.message : 'the build failed' });
        }
        close();
        await dropContext();
      });
      // A byte stream of NDJSON lines: typed as the text the schema documents.
      return c.body(readable, 200, { 'content-type': 'application/x-ndjson' }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/push',
      tags: ['Images'],
      summary: 'Tag `source` as `target` and push it with the credentials in the (signed) body',
      security: signed,
      request: { body: { content: { 'application/json': { schema: PushBody } }, required: true } },
      responses: {
        200: json(Pushed, 'Pushed'),
        401: problem('Not signed, stale or replayed'),
        404: problem('No such image on this host'),
        422: problem('The registry refused the push'),
        503: problem('The engine does not answer'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const output: string[] = [];
      const pushed = await deps.engine.push(body.source, body.target, authOf(body.auth), (line) => {
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
