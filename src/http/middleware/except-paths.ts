import type { MiddlewareHandler } from 'hono';

/**
 * `middleware`, skipped for requests to `paths`: each either exact (`/v1/signup`) or a prefix ending
 * in `/*` (`/oauth/*` is `/oauth` and everything under `/oauth/`), matched against the request's
 * path as Hono's `except` matches them. Hono's `except` builds a router match and a composed
 * middleware chain on every request; this compares strings, and its middleware runs as itself
 * (five of them on every `/v1` request: a measurable part of a cached read's cost).
 */
export function exceptPaths<M extends MiddlewareHandler>(
  paths: string | readonly string[],
  middleware: M,
): M {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const path of typeof paths === 'string' ? [paths] : paths) {
    if (path.endsWith('/*')) prefixes.push(path.slice(0, -2));
    else if (path.includes('*') || path.includes(':'))
      throw new Error(`exceptPaths takes exact paths or /* prefixes, not ${path}`);
    else exact.add(path);
  }
  const skipped = (path: string) =>
    exact.has(path) || prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
  // cast: the wrapper takes and returns what `middleware` does; only the skip is added.
  return (async (c, next) => (skipped(c.req.path) ? next() : middleware(c, next))) as M;
}
