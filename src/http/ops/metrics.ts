import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Metrics } from '../../metrics/metrics.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse } from '../kit/index.ts';

/** Constant-time comparison of two strings (a token check must not leak how much matched). */
function same(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let difference = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}

/** `/metrics` in the Prometheus text format; with a token configured, only for that bearer token. */
export function metricsRoutes(metrics: Metrics, token: string | undefined) {
  const app = new OpenAPIHono<AppEnv>();
  const route = createRoute({
    method: 'get',
    path: '/metrics',
    tags: ['Operations'],
    summary:
      'Prometheus metrics: HTTP by route and status, appends, projection lag, job queues, worker heartbeats',
    responses: {
      200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
      401: { description: 'A metrics token is configured and was not sent' },
    },
  });
  app.openapi(route, async (c) => {
    if (token !== undefined && !same(c.req.header('authorization') ?? '', `Bearer ${token}`)) {
      c.header('WWW-Authenticate', 'Bearer');
      return problemResponse(
        c,
        401,
        'unauthenticated',
        'send the metrics token: Authorization: Bearer <token>',
      );
    }
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { 'content-type': contentType }) as never;
  });
  return app;
}
