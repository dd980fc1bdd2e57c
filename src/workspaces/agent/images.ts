import { Readable } from 'node:stream';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import type { RegistryAuth } from '../docker/port.ts';
import type { AgentAppDeps } from './app-deps.ts';
import { AgentRefusal, invalid, signed } from './problems.ts';
import { BuildQuery, ImageParams, json, PushBody, Pushed, problem } from './schemas.ts';

/** The largest build context the agent takes (the whole body is signed, so it is read into memory). */
export const MAX_CONTEXT_BYTES = 256 * 1024 * 1024;

export const authOf = (
  auth: { username: string; password: string; server_address: string } | undefined,
): RegistryAuth | undefined =>
  auth ? { username: auth.username, password: auth.password, serveraddress: auth.server_address } : undefined;

/**
 * Images on this host: build one from a tar context (the build's output streamed back as NDJSON
 * lines, `{"stream": …}` then `{"done": {"id"}}` or `{"error"}`), push one to a registry, remove one.
 */
export function imageRoutes(deps: AgentAppDeps) {
  const app = new OpenAPIHono({ defaultHook: invalid });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/images/build',
      tags: ['Images'],
      summary:
        'Build an image from the tar build context in the body (signed over its digest), tagged `tag`; the output streams back as NDJSON',
      security: signed,
      request: {
        query: BuildQuery,
        body: { content: { 'application/x-tar': { schema: z.any() } }, required: true },
      },
      responses: {
        200: {
          description: 'NDJSON lines: {"stream"} as the build writes, then {"done":{"id"}} or {"error"}',
          content: { 'application/x-ndjson': { schema: z.string() } },
        },
        401: problem('Not signed, stale or replayed'),
        413: problem('The context is larger than the agent takes'),
        422: problem('The engine refused the context (not a tar, no Dockerfile)'),
      },
    }),
    async (c) => {
      const { tag, dockerfile } = c.req.valid('query');
      // The signature check read (and cached) the body to digest it.
      const bytes = Buffer.from(await c.req.arrayBuffer());
      if (bytes.length === 0) throw new AgentRefusal(422, 'invalid', 'the build context is empty');
      if (bytes.length > MAX_CONTEXT_BYTES) {
        throw new AgentRefusal(413, 'too-large', `the build context is over ${MAX_CONTEXT_BYTES} bytes`);
      }
      const encoder = new TextEncoder();
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const writer = writable.getWriter();
      const send = (line: object) =>
        writer.write(encoder.encode(`${JSON.stringify(line)}\n`)).catch(() => {});
      let wrote = false;
      let firstLine = () => {};
      const started = new Promise<void>((resolve) => {
        firstLine = resolve;
      });
      const outcome = deps.engine
        .build(Readable.from([bytes]), { tag, dockerfile }, (line) => {
          wrote = true;
          firstLine();
          void send({ stream: line });
        })
        .then(
          (built) => ({ ok: true as const, built }),
          (error: unknown) => ({ ok: false as const, error }),
        );
      const first = await Promise.race([started.then(() => undefined), outcome]);
      // Refused before any output: answered as a problem, not as a stream.
      if (first && !first.ok && !wrote) throw first.error;
      void outcome.then(async (result) => {
        if (result.ok) await send({ done: { id: result.built.id } });
        else {
          if (!(result.error instanceof Error) || result.error.name !== 'ContainerEngineError') {
            deps.logger.error({ err: result.error }, 'image build failed');
          }
          await send({ error: result.error instanceof Error ? result.error.message : 'the build failed' });
        }
        await writer.close().catch(() => {});
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
      const pushed = await deps.engine.push(body.source, body.target, authOf(body.auth), () => {});
      return c.json({ target: body.target, digest: pushed.digest }, 200);
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
