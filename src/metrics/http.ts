import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Metrics } from './metrics.ts';

/**
 * Counts and times every request by the route pattern it matched (`/v1/projects/:id`, never the raw
 * path, so the label stays bounded) and its status; requests no route matched are `unmatched`.
 */
export function httpMetrics(metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    const stop = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      const route = matchedRoutes(c)
        .filter((r) => r.method !== 'ALL')
        .at(-1)?.path;
      const method = c.req.method;
      const matched = route ?? 'unmatched';
      stop({ method, route: matched });
      // Literals, not `{ ...labels, status }`: Node 20's V8 copies a spread with more properties on a
      // slow path, on every request.
      metrics.httpRequests.inc({ method, route: matched, status: String(c.res.status) });
    }
  };
}
