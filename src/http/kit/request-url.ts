/** Each request's URL as the app's `getPath` parsed it (`tenantAwarePath`), for later readers. */
const parsedUrls = new WeakMap<Request, URL>();

/** Keeps the URL `getPath` parsed for `request`. */
export function rememberUrl(request: Request, url: URL): void {
  parsedUrls.set(request, url);
}

/**
 * The request's URL, parsed once per request: as `getPath` left it, else parsed now (a request
 * rebuilt on the way, as `forwardedProto` does, or an app without that `getPath`). Shared: read it,
 * never change it.
 */
export function requestUrl(request: Request): URL {
  return parsedUrls.get(request) ?? new URL(request.url);
}
