import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { AppEnv } from '../kit/index.ts';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the caller's `X-Request-Id` when well-formed, else a new UUID), echoes it
 * on the response, hands a child logger carrying it to the handlers, and writes one access line.
 * Only the path is logged: query strings may carry codes or tokens.
 */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    c.set('arrivedAt', started);
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && INCOMING_ID.test(incoming) ? incoming : crypto.randomUUID();
    const log = logger.child({ requestId });
    c.set('requestId', requestId);
    c.set('logger', log);
    try {
      await next();
    } finally {
      // On the response itself, not `c.header`: on a finished response `c.header` rebuilds it from its
      // body and first headers, and on Node (@hono/node-server's lightweight responses) that dropped
      // every header inner middleware had added since — secure headers and RateLimit-* among them.
      c.res.headers.set('X-Request-Id', requestId);
      const status = c.res.status;
      const line = {
        method: c.req.method,
        path: new URL(c.req.url).pathname,
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      };
      if (status >= 500) log.error(line, 'request failed');
      else log.info(line, 'request');
    }
  };
}
