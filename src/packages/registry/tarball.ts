import { RegistryError } from './errors.ts';

const BLOCK = 512;
const decoder = new TextDecoder();

function field(header: Uint8Array, offset: number, length: number): string {
  const bytes = header.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(header: Uint8Array, offset: number, length: number): number {
  const bytes = header.subarray(offset, offset + length);
  // GNU base-256 for sizes of 8 GiB and more: far beyond any cap, so refused as too large.
  if ((bytes[0]! & 0x80) !== 0) return Number.MAX_SAFE_INTEGER;
  const text = field(header, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw new RegistryError('malformed_tarball', 'a tar header has a size that is not octal');
  return Number.parseInt(text, 8);
}

function checksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  const stored = field(header, 148, 8).trim();
  return stored !== '' && Number.parseInt(stored, 8) === sum;
}

/** PAX extended header records (`<length> <key>=<value>\n`): only `path` matters here. */
function paxPath(data: Uint8Array): string | undefined {
  const text = decoder.decode(data);
  for (const line of text.split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

export interface TarSummary {
  /** Bytes of all file contents. */
  unpackedSize: number;
  /** `<top folder>/package.json`, parsed. */
  manifest: Record<string, unknown>;
}

/**
 * Reads a gzipped npm tarball as it streams: counts the unpacked bytes (refusing a tar bomb as soon
 * as it passes `maxUnpacked`) and keeps the package's own package.json (the first path segment is
 * the package folder, usually `package/`). Nothing is written anywhere.
 */
export async function inspectTarball(
  gzipped: ReadableStream<Uint8Array>,
  maxUnpacked: number,
): Promise<TarSummary> {
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = gzipped
      .pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>)
      .getReader();
  } catch {
    throw new RegistryError('malformed_tarball', 'the tarball is not gzip');
  }
  let buffer = new Uint8Array(0);
  let streamDone = false;
  let tarBytes = 0;
  let unpackedSize = 0;
  const fill = async (needed: number) => {
    while (buffer.length < needed && !streamDone) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new RegistryError(
          'malformed_tarball',
          `the tarball does not decompress: ${(error as Error).message}`,
        );
      }
      if (chunk.done) {
        streamDone = true;
        break;
      }
      tarBytes += chunk.value.length;
      // Headers count too: a million empty files is a bomb as well. Twice the cap leaves room for the
      // 512-byte header and padding of every small file of an honest package.
      if (tarBytes > 2 * maxUnpacked + 1024 * 1024) {
        await reader.cancel().catch(() => undefined);
        throw new RegistryError(
          'unpacked_too_large',
          `the package unpacks to more than ${maxUnpacked} bytes`,
        );
      }
      const next = new Uint8Array(buffer.length + chunk.value.length);
      next.set(buffer);
      next.set(chunk.value, buffer.length);
      buffer = next;
    }
    return buffer.length >= needed;
  };
  const take = (length: number) => {
    const out = buffer.subarray(0, length);
    buffer = buffer.subarray(length);
    return out;
  };
  let manifest: Record<string, unknown> | undefined;
  let manifestError: string | undefined;
  let sawManifest = false;
  let nextPath: string | undefined;
  let sawEnd = false;
  while (await fill(BLOCK)) {
    const header = take(BLOCK);
    if (header.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    if (!checksumOk(header)) throw new RegistryError('malformed_tarball', 'a tar header is corrupt');
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = field(header, 345, 155);
    const name = nextPath ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    nextPath = undefined;
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (size > maxUnpacked || unpackedSize + size > maxUnpacked) {
      await reader.cancel().catch(() => undefined);
      throw new RegistryError('unpacked_too_large', `the package unpacks to more than ${maxUnpacked} bytes`);
    }
    const regular = type === '0' || type === '\0' || type === '7';
    if (regular && isManifestPath(name)) {
      // npm extracts every entry in order, so a second package.json would silently replace the one
      // scanned here (a clean manifest first, install scripts after): refused.
      if (sawManifest)
        throw new RegistryError('malformed_tarball', 'the tarball holds two package.json files');
      sawManifest = true;
    }
    const wanted = type === 'x' || type === 'L' || (regular && isManifestPath(name));
    if (wanted) {
      if (!(await fill(padded))) throw new RegistryError('malformed_tarball', 'the tarball is truncated');
      const data = take(padded).subarray(0, size);
      if (type === 'x') nextPath = paxPath(data);
      else if (type === 'L') nextPath = decoder.decode(data).replace(/\0+$/, '');
      else {
        try {
          const parsed = JSON.parse(decoder.decode(data)) as unknown;
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
            manifest = parsed as Record<string, unknown>;
          else manifestError = 'package.json is not an object';
        } catch (error) {
          manifestError = `package.json is not JSON: ${(error as Error).message}`;
        }
      }
    } else {
      let left = padded;
      while (left > 0) {
        if (!(await fill(Math.min(left, 64 * 1024))))
          throw new RegistryError('malformed_tarball', 'the tarball is truncated');
        left -= take(Math.min(left, buffer.length)).length;
      }
    }
    if (regular) unpackedSize += size;
  }
  if (!sawEnd && !streamDone) await reader.cancel().catch(() => undefined);
  if (!sawEnd && buffer.length > 0)
    throw new RegistryError('malformed_tarball', 'the tarball ends inside a tar header');
  if (!sawEnd && unpackedSize === 0 && !manifest)
    throw new RegistryError('malformed_tarball', 'the tarball is empty or truncated');
  if (!manifest)
    throw new RegistryError('invalid_manifest', manifestError ?? 'the tarball has no package.json');
  return { unpackedSize, manifest };
}

/** `package/package.json`: the first path segment is the package folder, whatever its name. */
function isManifestPath(path: string): boolean {
  const parts = path.replace(/^\.\//, '').split('/');
  return parts.length === 2 && parts[1] === 'package.json';
}

/** The package.json inside tarball bytes already verified and stored. */
export async function readManifest(bytes: Uint8Array): Promise<Record<string, unknown>> {
  const stream = new Blob([bytes as BlobPart]).stream();
  return (await inspectTarball(stream, Number.MAX_SAFE_INTEGER)).manifest;
}
