import semver from 'semver';
import { z } from 'zod';
import { readBoundedBody } from '../../runtime/bounded-body.ts';
import { validPackageName } from '../package-name.ts';
import { RegistryError } from './errors.ts';
import { digestsOf, integrityChecker, shasumToIntegrity } from './integrity.ts';
import { type BundledPackage, inspectTarball, type TarSummary } from './tarball.ts';

export interface UpstreamOptions {
  /** The registry's address, e.g. `https://registry.example.com`. */
  url: string;
  /** Sent to the registry's own origin only, never to another tarball origin. */
  token?: string;
  /** Per request, body included. */
  timeoutMs: number;
  maxTarballBytes: number;
  maxUnpackedBytes: number;
  /** Cap on a version document or packument (a hostile registry could send gigabytes); 64 MiB by default. */
  maxMetadataBytes?: number;
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
  /** A `binding.gyp` at the tarball's root (npm builds it on install). */
  bindingGyp: boolean;
  /** Packages shipped inside the tarball (`node_modules/…`): npm installs them and runs their scripts. */
  bundled: BundledPackage[];
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

/** `@scope/name` → `@scope%2Fname`, as registries address scoped packages. */
export const encodeName = (name: string) =>
  name.startsWith('@') ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);

/** What is read from a registry's version document; everything else is kept as it came. */
const versionDocument = z.looseObject({
  name: z.string().optional(),
  version: z.string().optional(),
  dist: z.looseObject({
    tarball: z.string(),
    integrity: z.string().optional(),
    shasum: z.string().optional(),
  }),
});
const packument = z.looseObject({ versions: z.record(z.string(), z.unknown()).optional() });

const DEFAULT_MAX_METADATA_BYTES = 64 * 1024 * 1024;

export function createUpstream(options: UpstreamOptions): Upstream {
  const base = options.url.endsWith('/') ? options.url : `${options.url}/`;
  const ownOrigin = new URL(base).origin;
  const origins = new Set([ownOrigin, ...(options.allowTarballOrigins ?? []).map((o) => new URL(o).origin)]);
  const doFetch = options.fetch ?? fetch;
  const maxMetadataBytes = options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES;

  /** One request with its own timeout; its body is read within the same timeout. */
  async function request(url: URL, accept: string, signal: AbortSignal | undefined) {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: Record<string, string> = { accept };
    if (options.token && url.origin === ownOrigin) headers.authorization = `Bearer ${options.token}`;
    let response: Response;
    try {
      // Redirects are not followed: a registry must not be able to send us (with the token) elsewhere.
      response = await doFetch(url, { headers, signal: combined, redirect: 'manual' });
    } catch (error) {
      const reason = timeout.aborted ? `no answer within ${options.timeoutMs} ms` : (error as Error).message;
      throw new RegistryError('unavailable', `${url.origin} is unreachable: ${reason}`);
    }
    if (response.ok) return { response, timeout };
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 300 && response.status < 400) {
      throw new RegistryError(
        'unsafe_url',
        `the upstream registry redirected ${url.pathname} (${response.status}); redirects are not followed`,
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new RegistryError('unauthorized', `the upstream registry refused access (${response.status})`);
    }
    if (response.status === 429 || response.status >= 500) {
      throw new RegistryError('unavailable', `the upstream registry answered ${response.status}`);
    }
    throw new RegistryError(
      'not_found',
      `the upstream registry answered ${response.status} for ${url.pathname}`,
    );
  }

  /** The body, refused as `too_large` as soon as it passes `cap` (before it is all in memory). */
  async function readCapped(url: URL, accept: string, cap: number, what: string, signal?: AbortSignal) {
    const { response, timeout } = await request(url, accept, signal);
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > cap) {
      await response.body?.cancel().catch(() => undefined);
      throw new RegistryError('too_large', `the ${what} is ${declared} bytes, over the ${cap} byte cap`);
    }
    let bytes: Uint8Array | 'too_large';
    try {
      bytes = await readBoundedBody(response.body, cap);
    } catch (error) {
      const reason = timeout.aborted ? `no end within ${options.timeoutMs} ms` : (error as Error).message;
      throw new RegistryError('unavailable', `the ${what} download broke off: ${reason}`);
    }
    if (bytes === 'too_large')
      throw new RegistryError('too_large', `the ${what} exceeds the ${cap} byte cap`);
    return bytes;
  }

  /**
   * The tarball, inspected while it downloads: the unpacked bytes are counted as the compressed ones
   * arrive, so a tar bomb is refused (`unpacked_too_large`) within its first megabytes and the download
   * stops there. Nothing the rest of the download does (end, break off, run into the timeout on a slow
   * link or a loaded machine) turns it into something else. Every other finding of the inspection is
   * answered only after the bytes' integrity is checked (`inspected`), as for a tarball read whole.
   */
  async function readTarball(url: URL, signal: AbortSignal | undefined) {
    const { response, timeout } = await request(url, 'application/octet-stream', signal);
    const cap = options.maxTarballBytes;
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > cap) {
      await response.body?.cancel().catch(() => undefined);
      throw new RegistryError('too_large', `the tarball is ${declared} bytes, over the ${cap} byte cap`);
    }
    const reader = (response.body ?? new Blob([]).stream()).getReader();
    // Each chunk goes on to the inspection as it arrives; the inspection never holds up the download.
    const feed = new TransformStream<Uint8Array, Uint8Array>();
    const toInspection = feed.writable.getWriter();
    const inspected: Promise<TarSummary> = inspectTarball(feed.readable, options.maxUnpackedBytes);
    let bomb: RegistryError | undefined;
    inspected.catch((error: unknown) => {
      if (!(error instanceof RegistryError && error.code === 'unpacked_too_large')) return;
      bomb = error;
      reader.cancel(error).catch(() => undefined);
    });
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || bomb) break;
        size += value.byteLength;
        if (size > cap) {
          await reader.cancel().catch(() => undefined);
          throw new RegistryError('too_large', `the tarball exceeds the ${cap} byte cap`);
        }
        chunks.push(value);
        toInspection.write(value).catch(() => undefined);
      }
    } catch (error) {
      toInspection.abort(error).catch(() => undefined);
      // A bomb found stays the answer, whatever broke the download off after.
      if (bomb || error instanceof RegistryError) throw bomb ?? error;
      const reason = timeout.aborted ? `no end within ${options.timeoutMs} ms` : (error as Error).message;
      throw new RegistryError('unavailable', `the tarball download broke off: ${reason}`);
    }
    if (bomb) throw bomb;
    toInspection.close().catch(() => undefined);
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return { bytes, inspected };
  }

  async function readJson(url: URL, signal: AbortSignal | undefined): Promise<unknown> {
    const bytes = await readCapped(url, 'application/json', maxMetadataBytes, 'package document', signal);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new RegistryError('unavailable', 'the upstream registry answered something that is not JSON');
    }
  }

  /**
   * The registry's document for one version: `/{name}/{version}` where the registry serves it
   * (Verdaccio, the public registry for unscoped names: a few KB), else the whole packument (can be megabytes).
   */
  async function versionDocumentOf(name: string, version: string, signal: AbortSignal | undefined) {
    const versionUrl = new URL(`${encodeName(name)}/${version}`, base);
    try {
      const parsed = versionDocument.safeParse(await readJson(versionUrl, signal));
      if (parsed.success && parsed.data.name === name && parsed.data.version === version) return parsed.data;
    } catch (error) {
      // Not served there (or not to us): the packument decides. Only an unreachable registry stops here.
      if (!(error instanceof RegistryError && (error.code === 'not_found' || error.code === 'unauthorized')))
        throw error;
    }
    const whole = packument.safeParse(await readJson(new URL(encodeName(name), base), signal));
    if (!whole.success) throw new RegistryError('unavailable', `the packument of ${name} is not one`);
    const listed = whole.data.versions?.[version];
    if (listed === undefined)
      throw new RegistryError('not_found', `${name}@${version} is not in the upstream registry`);
    const parsed = versionDocument.safeParse(listed);
    if (!parsed.success) throw new RegistryError('not_found', `${name}@${version} has no tarball`);
    return parsed.data;
  }

  function tarballUrl(name: string, version: string, address: string): URL {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new RegistryError('unsafe_url', `the tarball address of ${name}@${version} is not a URL`);
    }
    // The tarball must come from where the metadata came from: a packument pointing elsewhere
    // (cloud metadata, an internal host) would make Warden fetch it for an attacker.
    if (!origins.has(url.origin) || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username) {
      throw new RegistryError(
        'unsafe_url',
        `the tarball of ${name}@${version} is on ${url.origin}, not on the upstream registry`,
      );
    }
    return url;
  }

  return {
    async download(name, version, expected, signal) {
      if (!validPackageName(name))
        throw new RegistryError('not_found', `"${name.slice(0, 100)}" is not a valid package name`);
      if (semver.valid(version) !== version)
        throw new RegistryError('not_found', `"${version.slice(0, 100)}" is not a version`);
      const document = await versionDocumentOf(name, version, signal);
      const { bytes, inspected } = await readTarball(
        tarballUrl(name, version, document.dist.tarball),
        signal,
      );
      // Bytes are checked before they are parsed: a tampered tarball is tampering, whatever it holds.
      const matches = integrityChecker(bytes);
      const { integrity: registryIntegrity, shasum: registryShasum } = document.dist;
      for (const [what, sri] of [
        ['the lockfile', expected],
        ['the registry', registryIntegrity],
        [
          'the registry (shasum)',
          registryShasum === undefined ? undefined : shasumToIntegrity(registryShasum),
        ],
      ] as const) {
        if (sri && (await matches(sri)) === false) {
          throw new RegistryError(
            'integrity_mismatch',
            `the tarball of ${name}@${version} does not match the integrity ${what} names`,
          );
        }
      }
      const { unpackedSize, manifest, bindingGyp, bundled } = await inspected;
      const manifestVersion = typeof manifest.version === 'string' ? semver.clean(manifest.version) : null;
      if (manifest.name !== name || manifestVersion !== version) {
        throw new RegistryError(
          'invalid_manifest',
          `the tarball's package.json names ${String(manifest.name)}@${String(manifest.version)}, not ${name}@${version}`,
        );
      }
      const { integrity, shasum } = await digestsOf(bytes);
      return {
        bytes,
        integrity,
        shasum,
        size: bytes.length,
        unpackedSize,
        manifest,
        bindingGyp,
        bundled,
        registryManifest: document,
      };
    },
  };
}
