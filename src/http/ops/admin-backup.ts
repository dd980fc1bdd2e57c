import { Readable } from 'node:stream';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { type Backup, BackupInProgressError } from '../../db/backup.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, problemContent, RequestError, validationHook } from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';

/**
 * `GET /v1/admin/backup`: the whole embedded database, taken while Warden serves (`src/db/backup.ts`),
 * for `warden restore`. Platform superadmin only: it is every tenant's data. `take` is absent on a
 * PostgreSQL server, whose own tools back it up (501).
 */
export function adminBackupRoutes(deps: { take?: (() => Promise<Backup>) | undefined }) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/v1/admin/backup', requirePermission('platform:manage'));
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/backup',
      tags: ['Operations'],
      summary:
        'A backup of the embedded PGlite database, taken while Warden serves and writes (PostgreSQL’s online base backup): a gzipped tar for `warden restore`; the generated key-encryption key is left out',
      responses: {
        200: {
          description: 'The backup, written as the folder is read; its last entry says what it holds',
          content: { 'application/gzip': { schema: z.string().meta({ format: 'binary' }) } },
        },
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('Platform superadmin only'),
        409: problemContent('Another backup is being taken'),
        501: problemContent('The database is a PostgreSQL server: back it up with its own tools'),
      },
    }),
    async (c) => {
      if (!deps.take) {
        throw new RequestError(
          501,
          'backup-unavailable',
          'Warden runs on a PostgreSQL server (DATABASE_URL): back it up with the server’s own tools',
        );
      }
      const started = performance.now();
      let backup: Backup;
      try {
        backup = await deps.take();
      } catch (error) {
        if (error instanceof BackupInProgressError)
          throw new RequestError(409, 'backup-in-progress', error.message);
        throw error;
      }
      const logger = c.get('logger')();
      const by = c.get('principal')?.userId;
      backup.done.then(
        (manifest) =>
          logger.info(
            {
              by,
              events: manifest.events,
              position: manifest.position,
              ms: Math.round(performance.now() - started),
            },
            'backup taken',
          ),
        (error: unknown) => logger.warn({ by, err: error }, 'backup failed'),
      );
      const stamp = backup.header.takenAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      return new Response(Readable.toWeb(backup.body) as ReadableStream, {
        status: 200,
        headers: {
          'content-type': 'application/gzip',
          'content-disposition': `attachment; filename="warden-backup-${stamp}.tar.gz"`,
          'cache-control': 'no-store',
        },
      });
    },
  );
  return app;
}
