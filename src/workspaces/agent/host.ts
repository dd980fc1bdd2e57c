import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { AGENT_API_VERSION, type AgentAppDeps } from './app-deps.ts';
import { invalid, signed } from './problems.ts';
import { Health, Image, ImageParams, json, problem, SystemStats } from './schemas.ts';

/** The host: whether the agent and its Docker Engine answer, and the host's resources. */
export function hostRoutes(deps: AgentAppDeps) {
  const app = new OpenAPIHono({ defaultHook: invalid });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/health',
      tags: ['Host'],
      summary: 'Alive, and whether the Docker Engine answers',
      security: signed,
      responses: { 200: json(Health, 'Health'), 401: problem('Not signed, stale or replayed') },
    }),
    async (c) => {
      const docker = await deps.engine.ping();
      return c.json(
        {
          status: docker ? ('ok' as const) : ('degraded' as const),
          docker: docker ? ('up' as const) : ('down' as const),
          version: AGENT_API_VERSION,
          time: deps.clock().toISOString(),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/system',
      tags: ['Host'],
      summary: 'CPU, memory, disk and container counts of the host',
      security: signed,
      responses: { 200: json(SystemStats, 'Statistics'), 401: problem('Not signed, stale or replayed') },
    }),
    async (c) => {
      const [host, containers] = await Promise.all([deps.stats(), deps.engine.counts()]);
      return c.json({ ...host, containers }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/{ref}',
      tags: ['Host'],
      summary: 'An image this host holds (the reference URL-encoded: `example%2Feditor%3A1`), or 404',
      security: signed,
      request: { params: ImageParams },
      responses: {
        200: json(Image, 'The image'),
        400: problem('Not an image reference'),
        401: problem('Not signed, stale or replayed'),
        404: problem('This host has no such image'),
      },
    }),
    async (c) => {
      const { ref } = c.req.valid('param');
      return c.json({ ref, ...(await deps.engine.image(ref)) }, 200);
    },
  );
  return app;
}
