import { RegistryError } from './errors.ts';
import { encodeName } from './upstream.ts';
import type { Packument } from './view.ts';

export interface ViewSourceOptions {
  /** The secure registry approved packages are published to (WARDEN_TARGET_REGISTRY). */
  url: string;
  /** Sent as a bearer token to that registry only (never logged, never to another origin). */
  token?: string;
  /** Until the registry's answer starts; a tarball's body then streams without a bound. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** What a tenant's npm view reads from the secure registry. */
export interface ViewSource {
  /** The registry's packument of `name`, or undefined when it holds no such package. */
  packument(name: string, signal?: AbortSignal): Promise<Packument | undefined>;
  /**
   * The registry's answer for one version's tarball, its body unread (the caller streams it on).
   * `location` is the `dist.tarball` the registry's packument gives; one on another origin is not
   * followed (the standard `<name>/-/<file>` path on the registry is asked instead).
   */
  tarball(name: string, version: string, location: unknown, signal?: AbortSignal): Promise<Response>;
}

/** Reads packuments and streams tarballs from the secure registry, authenticated, bounded in time. */
export function viewSource(options: ViewSourceOptions): ViewSource {
  const base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  const doFetch = options.fetch ?? fetch;

  async function call(url: URL, accept: string, signal: AbortSignal | undefined): Promise<Response> {
    // The timeout covers the wait for the answer's head, not the time its body takes to stream.
    const waited = new AbortController();
    const timer = setTimeout(() => waited.abort(), options.timeoutMs);
    try {
      return await doFetch(url, {
        headers: {
          accept,
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        },
        signal: signal ? AbortSignal.any([signal, waited.signal]) : waited.signal,
        redirect: 'error',
      });
    } catch (error) {
      const reason = waited.signal.aborted
        ? `no answer within ${options.timeoutMs} ms`
        : (error as Error).message;
      throw new RegistryError('unavailable', `the secure registry is unreachable: ${reason}`);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async packument(name, signal) {
      const response = await call(new URL(encodeName(name), base), 'application/json', signal);
      if (response.status === 404) {
        await response.body?.cancel().catch(() => undefined);
        return undefined;
      }
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        throw new RegistryError('unavailable', `the secure registry answered ${response.status} for ${name}`);
      }
      const document: unknown = await response.json().catch(() => undefined);
      if (typeof document !== 'object' || document === null || (document as Packument).name !== name)
        throw new RegistryError('unavailable', `the secure registry's packument of ${name} is not one`);
      return document as Packument;
    },
    tarball(name, version, location, signal) {
      const bare = name.slice(name.indexOf('/') + 1);
      let url = new URL(`${name}/-/${bare}-${version}.tgz`, base);
      if (typeof location === 'string' && URL.canParse(location)) {
        const given = new URL(location);
        if (given.origin === base.origin && given.pathname.startsWith(base.pathname)) url = given;
      }
      return call(url, 'application/octet-stream', signal);
    },
  };
}
