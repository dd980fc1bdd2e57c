import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import type { ProjectionEngine, ProjectionStatus } from '../../projections/engine/index.ts';
import { RebuildInProgressError } from '../../projections/engine/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, problemContent, RequestError, validationHook } from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';

export interface AdminProjectionDeps {
  engine: Pick<ProjectionEngine, 'status' | 'rebuild'>;
  clock: () => Date;
}

const Progress = z.object({ done: z.number().int(), total: z.number().int() });
const Projection = z
  .object({
    name: z.string(),
    version: z.number().int(),
    state: z.string(),
    position: z.string(),
    head: z.string(),
    lag: z.number().int(),
    last_error: z
      .object({
        message: z.string(),
        event_id: z.string().nullable(),
        position: z.string().nullable(),
        at: z.iso.datetime(),
      })
      .nullable(),
    rebuild: Progress.nullable(),
  })
  .meta({ id: 'ProjectionStatus' });
const Rebuild = z
  .object({
    projection: z.string(),
    state: z.enum(['running', 'succeeded', 'failed']),
    progress: Progress,
    started_at: z.iso.datetime(),
    finished_at: z.iso.datetime().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: 'ProjectionRebuild' });
const NameParam = z.object({ name: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,63}$/) });

type RebuildRecord = z.infer<typeof Rebuild>;

const present = (s: ProjectionStatus): z.infer<typeof Projection> => ({
  name: s.name,
  version: s.version,
  state: s.state,
  position: s.position.toString(),
  head: s.head.toString(),
  lag: s.lag,
  last_error: s.lastError
    ? {
        message: s.lastError.message,
        event_id: s.lastError.eventId,
        position: s.lastError.position?.toString() ?? null,
        at: s.lastError.at.toISOString(),
      }
    : null,
  rebuild: s.rebuild,
});

const guard = requirePermission('projections:rebuild');
const problems = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('Missing permission projections:rebuild (platform superadmin)'),
};

/**
 * Projection operations for the platform: each read model's position, lag, state and last error, and
 * rebuilds without downtime started over HTTP (202 and a status resource with progress). A second
 * rebuild of one projection while one runs is 409.
 */
export function adminProjectionRoutes(deps: AdminProjectionDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  /** The latest rebuild of each projection started by this process. */
  const rebuilds = new Map<string, RebuildRecord>();

  const known = async (name: string) => {
    const status = (await deps.engine.status()).find((s) => s.name === name);
    if (!status) throw new RequestError(404, 'not-found', `no projection named "${name}"`);
    return status;
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/projections',
      tags: ['Operations'],
      summary: "Every projection's position, lag behind the head, state, last error and rebuild progress",
      middleware: guard,
      responses: {
        200: jsonContent(z.object({ items: z.array(Projection) }), 'The projections'),
        ...problems,
      },
    }),
    async (c) => c.json({ items: (await deps.engine.status()).map(present) }, 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/projections/{name}/rebuild',
      tags: ['Operations'],
      summary: 'Rebuild a read model from the first event, without downtime',
      middleware: guard,
      request: { params: NameParam },
      responses: {
        202: jsonContent(Rebuild, 'Started; follow Location for progress'),
        ...problems,
        404: problemContent('No such projection'),
        409: problemContent('A rebuild of this projection is already running'),
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const status = await known(name);
      if (status.rebuild || rebuilds.get(name)?.state === 'running') {
        throw new RequestError(409, 'rebuild-in-progress', `projection "${name}" is already being rebuilt`);
      }
      const record: RebuildRecord = {
        projection: name,
        state: 'running',
        progress: { done: 0, total: 0 },
        started_at: deps.clock().toISOString(),
        finished_at: null,
        error: null,
      };
      rebuilds.set(name, record);
      const logger = c.get('logger')();
      deps.engine
        .rebuild(name, {
          onProgress: (p) => {
            record.progress = { done: p.done, total: p.total };
          },
        })
        .then(
          () => {
            record.state = 'succeeded';
          },
          (error: unknown) => {
            record.state = 'failed';
            record.error =
              error instanceof RebuildInProgressError
                ? 'another process is rebuilding this projection'
                : error instanceof Error
                  ? error.message
                  : String(error);
            logger.warn({ err: error, projection: name }, 'rebuild over HTTP failed');
          },
        )
        .finally(() => {
          record.finished_at = deps.clock().toISOString();
        });
      c.header('Location', `/v1/admin/projections/${name}/rebuild`);
      return c.json(record, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/projections/{name}/rebuild',
      tags: ['Operations'],
      summary: 'The latest rebuild of a projection started through this process, with its progress',
      middleware: guard,
      request: { params: NameParam },
      responses: {
        200: jsonContent(Rebuild, 'The rebuild'),
        ...problems,
        404: problemContent('No such projection, or no rebuild started here'),
      },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      await known(name);
      const record = rebuilds.get(name);
      if (!record) throw new RequestError(404, 'not-found', `no rebuild of "${name}" was started here`);
      return c.json(record, 200);
    },
  );

  return app;
}
