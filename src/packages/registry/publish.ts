import semver from 'semver';
import { RegistryError } from './errors.ts';
import { toBase64 } from './integrity.ts';
import { encodeName } from './upstream.ts';

export interface PublisherOptions {
  url: string;
  /** A token with publish rights (sent as a bearer token, never logged). */
  token: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

export interface PublishInput {
  name: string;
  version: string;
  /** The tarball's package.json: the version document is built from it. */
  manifest: Record<string, unknown>;
  /** The original bytes: the integrity in the user's lockfile must still match. */
  tarball: Uint8Array;
  integrity: string;
  signal?: AbortSignal;
}

export interface Publisher {
  /**
   * Publishes one version, exactly once: a target already holding these very bytes is
   * `already_present` (an earlier attempt got through before its worker died); other bytes under
   * the same version are a `conflict`.
   */
  publish(input: PublishInput): Promise<{ outcome: 'published' | 'already_present' }>;
}

/** The tag an older version is published under, so `latest` never moves backwards. */
export const BACKFILL_TAG = 'warden-backfill';

export function createPublisher(options: PublisherOptions): Publisher {
  const base = options.url.endsWith('/') ? options.url : `${options.url}/`;
  const doFetch = options.fetch ?? fetch;

  async function call(path: string, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    try {
      return await doFetch(`${base}${path}`, {
        ...init,
        headers: { accept: 'application/json', authorization: `Bearer ${options.token}`, ...init.headers },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        redirect: 'error',
      });
    } catch (error) {
      const reason = timeout.aborted ? `no answer within ${options.timeoutMs} ms` : (error as Error).message;
      throw new RegistryError('unavailable', `the target registry is unreachable: ${reason}`);
    }
  }

  async function current(name: string, signal: AbortSignal | undefined) {
    const response = await call(encodeName(name), { method: 'GET' }, signal);
    if (response.status === 404) {
      await response.body?.cancel().catch(() => undefined);
      return undefined;
    }
    if (!response.ok) throw failure(response.status, 'reading');
    return (await response.json()) as {
      'dist-tags'?: Record<string, string>;
      versions?: Record<string, { dist?: { integrity?: string } }>;
    };
  }

  function failure(status: number, doing: string): RegistryError {
    if (status === 401 || status === 403) {
      return new RegistryError(
        'unauthorized',
        `the target registry refused ${doing} (${status}): check the token`,
      );
    }
    if (status === 429 || status >= 500)
      return new RegistryError('unavailable', `the target registry answered ${status}`);
    return new RegistryError('conflict', `the target registry answered ${status} when ${doing}`);
  }

  const present = (
    packument: Awaited<ReturnType<typeof current>>,
    version: string,
    integrity: string,
  ): 'already_present' | undefined => {
    const existing = packument?.versions?.[version];
    if (!existing) return undefined;
    if (existing.dist?.integrity === integrity) return 'already_present';
    throw new RegistryError(
      'conflict',
      `the target already holds ${version} with other bytes (${existing.dist?.integrity ?? 'no integrity'})`,
    );
  };

  return {
    async publish(input) {
      const { name, version, integrity, signal } = input;
      const before = await current(name, signal);
      if (present(before, version, integrity)) return { outcome: 'already_present' };
      const latest = before?.['dist-tags']?.latest;
      const tag = latest && semver.valid(latest) && semver.gt(latest, version) ? BACKFILL_TAG : 'latest';
      const file = `${name}-${version}.tgz`;
      const shasum = await crypto.subtle.digest('SHA-1', input.tarball as BufferSource);
      const body = {
        _id: name,
        name,
        ...(typeof input.manifest.description === 'string'
          ? { description: input.manifest.description }
          : {}),
        'dist-tags': { [tag]: version },
        versions: {
          [version]: {
            ...input.manifest,
            _id: `${name}@${version}`,
            name,
            version,
            dist: {
              integrity,
              shasum: [...new Uint8Array(shasum)].map((b) => b.toString(16).padStart(2, '0')).join(''),
              tarball: `${base}${name}/-/${name.split('/').at(-1)}-${version}.tgz`,
            },
          },
        },
        access: null,
        _attachments: {
          [file]: {
            content_type: 'application/octet-stream',
            data: toBase64(input.tarball),
            length: input.tarball.length,
          },
        },
      };
      const response = await call(
        encodeName(name),
        {
          method: 'PUT',
          headers: { 'content-type': 'application/json', 'npm-command': 'publish' },
          body: JSON.stringify(body),
        },
        signal,
      );
      if (response.ok) {
        await response.body?.cancel().catch(() => undefined);
        return { outcome: 'published' };
      }
      await response.body?.cancel().catch(() => undefined);
      // Someone (an earlier attempt) may have published meanwhile: the target's copy decides.
      if (response.status === 409 || response.status === 403) {
        if (present(await current(name, signal), version, integrity)) return { outcome: 'already_present' };
      }
      throw failure(response.status, `publishing ${name}@${version}`);
    },
  };
}
