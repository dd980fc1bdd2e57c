import semver from 'semver';
import { validPackageName } from '../lockfile.ts';
import { RegistryError } from './errors.ts';
import { digestsOf, matchesIntegrity, shasumToIntegrity } from './integrity.ts';
import { inspectTarball } from './tarball.ts';

export interface UpstreamOptions {
  /** The registry's address, e.g. `https://registry.npmjs.org`. */
  url: string;
  token?: string;
  timeoutMs: number;
  maxTarballBytes: number;
  maxUnpackedBytes: number;
  /** Other origins a tarball may come from (a registry's CDN); none by default. */
  allowTarballOrigins?: readonly string[];
  fetch?: typeof fetch;
}

export interface Download {
  bytes: Uint8Array;
  /** `sha512-<base64>` of the bytes. */
  integrity: string;
  shasum: string;
  size: number;
  unpackedSize: number;
  /** The tarball's own package.json. */
  manifest: Record<string, unknown>;
  /** The registry's document for this version (`deprecated`, `dist`, …). */
  registryManifest: Record<string, unknown>;
}

export interface Upstream {
  /**
   * Downloads `name@version` from the upstream registry, by name only (never from a URL a client
   * gave), and checks it: size caps while streaming, the registry's own digest, and `expected`
   * (the lockfile's integrity) when given. A mismatch is `integrity_mismatch`: tampering.
   */
  download(name: string, version: string, expected?: string, signal?: AbortSignal): Promise<Download>;
}

/** `@scope/name` → `@scope%2fname`, as registries address scoped packages. */
export const encodeName = (name: string) =>
  name.startsWith('@') ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);

export function createUpstream(options: UpstreamOptions): Upstream {
  const base = options.url.endsWith('/') ? options.url : `${options.url}/`;
  const origins = new Set([
    new URL(base).origin,
    ...(options.allowTarballOrigins ?? []).map((o) => new URL(o).origin),
  ]);
  const doFetch = options.fetch ?? fetch;
  const headers = (accept: string): Record<string, string> => ({
    accept,
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  });

  async function request(url: string, accept: string, signal: AbortSignal | undefined): Promise<Response> {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await doFetch(url, { headers: headers(accept), signal: combined, redirect: 'error' });
    } catch (error) {
      const reason = timeout.aborted ? `no answer within ${options.timeoutMs} ms` : (error as Error).message;
      throw new RegistryError('unavailable', `${new URL(url).origin} is unreachable: ${reason}`);
    }
    if (response.ok) return response;
    await response.body?.cancel().catch(() => undefined);
    if (response.status === 404)
      throw new RegistryError('not_found', `${url} is not in the upstream registry`);
    if (response.status === 401 || response.status === 403) {
      throw new RegistryError('unauthorized', `the upstream registry refused access (${response.status})`);
    }
    if (response.status === 429 || response.status >= 500) {
      throw new RegistryError('unavailable', `the upstream registry answered ${response.status}`);
    }
    throw new RegistryError('not_found', `the upstream registry answered ${response.status} for ${url}`);
  }

  async function readCapped(response: Response, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > options.maxTarballBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw new RegistryError(
        'too_large',
        `the tarball is ${declared} bytes, over the ${options.maxTarballBytes} byte cap`,
      );
    }
    if (!response.body) return new Uint8Array(0);
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        const reason = signal?.aborted ? 'stopped' : (error as Error).message;
        throw new RegistryError('unavailable', `the tarball download broke off: ${reason}`);
      }
      if (chunk.done) break;
      size += chunk.value.length;
      if (size > options.maxTarballBytes) {
        await reader.cancel().catch(() => undefined);
        throw new RegistryError('too_large', `the tarball exceeds the ${options.maxTarballBytes} byte cap`);
      }
      chunks.push(chunk.value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return bytes;
  }

  return {
    async download(name, version, expected, signal) {
      if (!validPackageName(name))
        throw new RegistryError('not_found', `"${name}" is not a valid package name`);
      if (semver.valid(version) !== version)
        throw new RegistryError('not_found', `"${version}" is not a version`);
      const packument = (await (
        await request(`${base}${encodeName(name)}`, 'application/json', signal)
      )
        .json()
        .catch(() => {
          throw new RegistryError('unavailable', 'the upstream registry answered something that is not JSON');
        })) as { versions?: Record<string, Record<string, unknown>> };
      const registryManifest = packument.versions?.[version];
      if (!registryManifest)
        throw new RegistryError('not_found', `${name}@${version} is not in the upstream registry`);
      const dist = (registryManifest.dist ?? {}) as {
        tarball?: unknown;
        integrity?: unknown;
        shasum?: unknown;
      };
      if (typeof dist.tarball !== 'string')
        throw new RegistryError('not_found', `${name}@${version} has no tarball`);
      let tarball: URL;
      try {
        tarball = new URL(dist.tarball);
      } catch {
        throw new RegistryError('unsafe_url', `the tarball address of ${name}@${version} is not a URL`);
      }
      if (!origins.has(tarball.origin) || (tarball.protocol !== 'https:' && tarball.protocol !== 'http:')) {
        throw new RegistryError(
          'unsafe_url',
          `the tarball of ${name}@${version} is on ${tarball.origin}, not on the upstream registry`,
        );
      }
      const bytes = await readCapped(
        await request(tarball.toString(), 'application/octet-stream', signal),
        signal,
      );
      const registryIntegrity =
        typeof dist.integrity === 'string'
          ? dist.integrity
          : typeof dist.shasum === 'string'
            ? shasumToIntegrity(dist.shasum)
            : undefined;
      for (const [what, sri] of [
        ['the lockfile', expected],
        ['the registry', registryIntegrity],
      ] as const) {
        if (!sri) continue;
        if ((await matchesIntegrity(bytes, sri)) === false) {
          throw new RegistryError(
            'integrity_mismatch',
            `the tarball of ${name}@${version} does not match the integrity ${what} names`,
          );
        }
      }
      const { unpackedSize, manifest } = await inspectTarball(
        new Blob([bytes as BlobPart]).stream(),
        options.maxUnpackedBytes,
      );
      if (manifest.name !== name || manifest.version !== version) {
        throw new RegistryError(
          'invalid_manifest',
          `the tarball's package.json names ${String(manifest.name)}@${String(manifest.version)}, not ${name}@${version}`,
        );
      }
      const { integrity, shasum } = await digestsOf(bytes);
      return { bytes, integrity, shasum, size: bytes.length, unpackedSize, manifest, registryManifest };
    },
  };
}
