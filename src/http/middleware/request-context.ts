import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { unredactedSibling } from '../../logger.ts';
import { type AppEnv, requestUrl } from '../kit/index.ts';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the caller's `X-Request-Id` when well-formed, else a new UUID), echoes it
 * on the response, hands the handlers a child logger carrying it (made only if one asks for it), and
 * writes one access line (the same line a child would write: the id first, then the fields) when its
 * level is on. Only the path is logged: query strings may carry codes or tokens.
 */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  // The access line's fields are fixed and name nothing redacted: written without the redaction pass.
  const access = unredactedSibling(logger);
  return async (c, next) => {
    const started = performance.now();
    c.set('arrivedAt', started);
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && INCOMING_ID.test(incoming) ? incoming : crypto.randomUUID();
    let child: Logger | undefined;
    c.set('requestId', requestId);
    c.set('logger', () => {
      child ??= logger.child({ requestId });
      return child;
    });
    try {
      await next();
    } finally {
      // On the response itself, not `c.header`: on a finished response `c.header` rebuilds it from its
      // body and first headers, and on Node (@hono/node-server's lightweight responses) that dropped
      // every header inner middleware had added since — secure headers and RateLimit-* among them.
      c.res.headers.set('X-Request-Id', requestId);
      const status = c.res.status;
      const failed = status >= 500;
      if (logger.isLevelEnabled(failed ? 'error' : 'info')) {
        const line = {
          requestId,
          method: c.req.method,
          path: requestUrl(c.req.raw).pathname,
          status,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
        };
        if (failed) access.error(line, 'request failed');
        else access.info(line, 'request');
      }
    }
  };
}
