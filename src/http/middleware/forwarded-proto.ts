import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../kit/index.ts';
import { forwardedByTrustedProxy } from '../kit/index.ts';

/**
 * The scheme the client spoke, behind a TLS-terminating proxy: with `trustedProxyHops` > 0 the
 * `X-Forwarded-Proto` entry the nearest trusted proxy wrote (`http` or `https`; anything else is
 * ignored) replaces the request URL's scheme, so everything that reads `c.req.url` — issuers and
 * discovery, the `Secure` flag of cookies, DPoP's `htu` — sees `https:`. With 0 hops the header is the
 * client's own word and is ignored. Mount first. The host is left as the request's `Host`: a proxy
 * passes it through, and `X-Forwarded-Host` would let a misconfigured chain choose the tenant.
 */
export function forwardedProto(trustedProxyHops: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const proto = forwardedByTrustedProxy(c, 'x-forwarded-proto', trustedProxyHops)?.toLowerCase();
    if (proto === 'http' || proto === 'https') {
      const url = new URL(c.req.url);
      if (url.protocol !== `${proto}:`) {
        url.protocol = `${proto}:`;
        c.req.raw = withUrl(c.req.raw, url);
      }
    }
    return next();
  };
}

/** The same request (method, headers, body, signal) at another URL; the body is handed over unread. */
function withUrl(request: Request, url: URL): Request {
  // A streamed body needs `duplex: 'half'` (fetch spec); GET and HEAD have none.
  const init: RequestInit & { duplex?: 'half' } = {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
  };
  if (request.body !== null) {
    init.body = request.body;
    init.duplex = 'half';
  }
  return new Request(url, init);
}
