import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { Sha256Hex, WorkspaceFilePath } from '../../commands/workspaces/index.ts';
import { AgentRefusal, invalid, signed } from './problems.ts';
import { json, problem } from './schemas.ts';
import type { UploadStore } from './upload-store.ts';

const UploadId = z.object({ id: z.uuid() });
const Declaration = z
  .object({
    id: z.uuid(),
    size: z.number().int().min(0),
    sha256: Sha256Hex,
    file_name: z.string().min(1).max(255),
    /** Into this workspace's data folder (at `path` in it) instead of the store. */
    workspace: z.uuid().optional(),
    path: WorkspaceFilePath.optional(),
  })
  .meta({ id: 'AgentUploadDeclaration' });
const Progress = Declaration.extend({ offset: z.number().int(), updated_at: z.string() }).meta({
  id: 'AgentUploadProgress',
});
const Finished = z.object({ path: z.string(), size: z.number().int(), sha256: z.string() });
const OffsetHeader = z.object({ 'upload-offset': z.coerce.number().int().min(0) });
/**
 * `idle_ms`: the upload has expired when its last bytes arrived longer ago than this (410): Warden
 * names its expiry here instead of asking where the upload is before each append.
 */
const AppendQuery = z.object({ idle_ms: z.coerce.number().int().min(1).max(2_592_000_000).optional() });

/** Whether a request streams its body (signed over `UNSIGNED-PAYLOAD`): an append to an upload. */
export const streamsUploadBody = (method: string, pathname: string) =>
  method === 'PATCH' && /^\/v1\/store\/uploads\/[^/]+$/.test(pathname);

/**
 * The agent's file store, as Warden's resumable uploads drive it: open an upload, append bytes at an
 * offset (streamed, never held whole), read how far it got, finish it (SHA-256 checked) or delete it.
 */
export function uploadRoutes(store: UploadStore) {
  const app = new OpenAPIHono({ defaultHook: invalid });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/store/uploads',
      tags: ['Store'],
      summary: 'Open an upload (again: the same declaration answers its progress)',
      security: signed,
      request: { body: { content: { 'application/json': { schema: Declaration } }, required: true } },
      responses: {
        201: json(Progress, 'Opened'),
        409: problem('The id exists with another declaration, or the workspace has no data folder here'),
        422: problem('The path leaves the workspace data folder (a symbolic link on the way)'),
      },
    }),
    async (c) => c.json(await store.create(c.req.valid('json')), 201),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/store/uploads/{id}',
      tags: ['Store'],
      summary: 'How many bytes of the upload have arrived',
      security: signed,
      request: { params: UploadId },
      responses: { 200: json(Progress, 'The upload'), 404: problem('No such partial upload') },
    }),
    async (c) => {
      const progress = await store.progress(c.req.valid('param').id);
      if (!progress) throw new AgentRefusal(404, 'not-found', 'no such partial upload');
      return c.json(progress, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/store/uploads/{id}',
      tags: ['Store'],
      summary: 'Append the body at Upload-Offset (signed over UNSIGNED-PAYLOAD; the bytes stream to disk)',
      security: signed,
      request: {
        params: UploadId,
        query: AppendQuery,
        headers: OffsetHeader,
        body: { content: { 'application/offset+octet-stream': { schema: z.any() } } },
      },
      responses: {
        200: json(z.object({ offset: z.number().int() }), 'The new offset'),
        409: problem('Upload-Offset is not where the upload is'),
        410: problem('Nothing arrived for longer than idle_ms: the upload expired'),
        413: problem('More bytes than the upload declared'),
        423: problem('Another append to the upload is running'),
      },
    }),
    async (c) => {
      const offset = await store.append(
        c.req.valid('param').id,
        c.req.valid('header')['upload-offset'],
        c.req.raw.body,
        c.req.valid('query').idle_ms,
      );
      return c.json({ offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/store/uploads/{id}/complete',
      tags: ['Store'],
      summary:
        'Check the SHA-256 of the whole upload and move it into the store (or rename it into the workspace data folder)',
      security: signed,
      request: { params: UploadId },
      responses: {
        200: json(Finished, 'In the store'),
        409: problem('Not every byte has arrived'),
        422: problem('The SHA-256 is not the declared one: the upload is deleted'),
      },
    }),
    async (c) => c.json(await store.complete(c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/store/uploads/{id}',
      tags: ['Store'],
      summary: 'Delete the upload, partial or finished',
      security: signed,
      request: { params: UploadId },
      responses: { 204: { description: 'Deleted' } },
    }),
    async (c) => {
      await store.remove(c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
  return app;
}
