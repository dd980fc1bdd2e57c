import type { Context } from 'hono';

/** What the runtimes hand the app as `c.env`: Node's incoming socket, or the address Deno reports. */
interface RuntimeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
  remoteAddress?: string;
}

/**
 * What the nearest trusted proxy wrote in a comma-separated forwarding header (`X-Forwarded-For`,
 * `X-Forwarded-Proto`): the entry `trustedProxyHops` from the end. Entries further left are whatever
 * the client wrote and are never trusted; with 0 hops, or a list shorter than the hops, nothing is.
 */
export function forwardedByTrustedProxy(c: Context, header: string, trustedProxyHops: number) {
  if (trustedProxyHops <= 0) return undefined;
  const hops = (c.req.header(header) ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return hops[hops.length - trustedProxyHops];
}

/**
 * The client's address for throttling. Behind `trustedProxyHops` proxies it is the entry that many
 * hops from the end of `X-Forwarded-For` (what the nearest trusted proxy saw). Directly exposed
 * (0 hops) it is the socket's.
 */
export function clientAddress(trustedProxyHops: number) {
  return (c: Context): string | undefined => {
    const seen = forwardedByTrustedProxy(c, 'x-forwarded-for', trustedProxyHops);
    if (seen) return seen;
    const env = c.env as RuntimeBindings | undefined;
    return env?.incoming?.socket?.remoteAddress ?? env?.remoteAddress;
  };
}
