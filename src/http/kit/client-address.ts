import type { Context } from 'hono';

/** What the runtimes hand the app as `c.env`: Node's incoming socket, or the address Deno reports. */
interface RuntimeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
  remoteAddress?: string;
}

/**
 * The client's address for throttling. Behind `trustedProxyHops` proxies it is the entry that many
 * hops from the end of `X-Forwarded-For` (what the nearest trusted proxy saw); entries further left
 * are whatever the client wrote and are never trusted. Directly exposed (0 hops) it is the socket's.
 */
export function clientAddress(trustedProxyHops: number) {
  return (c: Context): string | undefined => {
    if (trustedProxyHops > 0) {
      const hops = (c.req.header('x-forwarded-for') ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean);
      const seen = hops[hops.length - trustedProxyHops];
      if (seen) return seen;
    }
    const env = c.env as RuntimeBindings | undefined;
    return env?.incoming?.socket?.remoteAddress ?? env?.remoteAddress;
  };
}
