import { extractedPath, possiblePaths } from './entry-path.ts';
import { RegistryError } from './errors.ts';

const BLOCK = 512;
/** node-tar ignores extended headers larger than this: their paths would not apply there. */
const MAX_META = 1024 * 1024;
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const malformed = (reason: string) => new RegistryError('malformed_tarball', reason);

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

/** A path field as node-tar reads it: UTF-8, cut at a NUL (to the end of that line). */
function pathField(header: Uint8Array, offset: number, length: number): string {
  return decoder.decode(header.subarray(offset, offset + length)).replace(/\0.*/, '');
}

/**
 * The checksum must hold both as the 8-byte field says and as node-tar reads it (12 bytes, up to the
 * first character that is not octal): a header only one of the two accepts would be skipped by npm's
 * extractor, which would then read the entry's content as headers.
 */
function checksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  const stored = field(header, 148, 8).trim();
  if ((header[148]! & 0x80) !== 0) return false;
  const asTarReadsIt = Number.parseInt(
    decoder.decode(header.subarray(148, 160)).replace(/\0.*$/, '').trim(),
    8,
  );
  return stored !== '' && Number.parseInt(stored, 8) === sum && asTarReadsIt === sum;
}

/** PAX extended header records (`<length> <key>=<value>\n`), parsed as node-tar parses them. */
function paxRecords(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  for (const line of decoder.decode(data).replace(/\n$/, '').split('\n')) {
    const length = Number.parseInt(line, 10);
    if (length !== encoder.encode(line).length + 1) continue;
    const [key, ...value] = line.slice(`${length} `.length).split('=');
    if (key) records.set(key, value.join('=').replace(/\0.*/, ''));
  }
  return records;
}

/** Pending extended-header values for the next file entry (PAX `x`, GNU `L`/`K`). */
interface Extended {
  path?: string;
  linkpath?: string;
}

/** Entry types node-tar treats as files, folders, links, devices: the ones extended headers apply to. */
const FILE_SYSTEM_TYPES = new Set(['0', '', '1', '2', '3', '4', '5', '6', '7', 'D']);
const META_TYPES = new Set(['x', 'X', 'g', 'L', 'N', 'K']);

export interface TarSummary {
  /** Bytes of all file contents. */
  unpackedSize: number;
  /** `<top folder>/package.json`, parsed. */
  manifest: Record<string, unknown>;
  /** A `binding.gyp` at the package root: npm then runs `node-gyp rebuild` on install, script or not. */
  bindingGyp: boolean;
  /** The packages shipped inside the tarball (`node_modules/…`), whose install scripts npm runs too. */
  bundled: BundledPackage[];
}

/**
 * A package folder inside the tarball, `node_modules/<name>` at any depth of `node_modules` folders:
 * npm installs bundled dependencies from there and runs their install scripts as for any other package.
 * Only what the checks need is kept of its package.json (there may be thousands).
 */
export interface BundledPackage {
  /** Where it lands below the package folder, folded as {@link possiblePaths} folds paths. */
  folder: string;
  name: string | null;
  version: string | null;
  /** Its `preinstall`, `install` and `postinstall` commands. */
  installScripts: Record<string, string>;
  /** Its package.json says `gypfile: false` (npm then ignores a binding.gyp). */
  noGypfile: boolean;
  bindingGyp: boolean;
  /** Why its package.json cannot be read as npm would read it (a link, not JSON), or null. */
  unreadable: string | null;
}

/** A file of a bundled package's folder: `node_modules/[@scope/]name/` repeated, then the file. */
const BUNDLED_FILE = /^((?:node_modules\/(?:@[^/]+\/)?[^/]+\/)+)(package\.json|binding\.gyp)$/;
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'] as const;

function bundledManifest(
  data: Uint8Array,
): Pick<BundledPackage, 'name' | 'version' | 'installScripts' | 'noGypfile' | 'unreadable'> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return {
      name: null,
      version: null,
      installScripts: {},
      noGypfile: false,
      unreadable: 'its package.json is not a JSON object',
    };
  const manifest = parsed as Record<string, unknown>;
  const scripts =
    typeof manifest.scripts === 'object' && manifest.scripts !== null
      ? (manifest.scripts as Record<string, unknown>)
      : {};
  const installScripts: Record<string, string> = {};
  for (const script of INSTALL_SCRIPTS) {
    const command = scripts[script];
    if (typeof command === 'string' && command.trim() !== '') installScripts[script] = command.slice(0, 200);
  }
  return {
    name: typeof manifest.name === 'string' ? manifest.name.slice(0, 214) : null,
    version: typeof manifest.version === 'string' ? manifest.version.slice(0, 100) : null,
    installScripts,
    noGypfile: manifest.gypfile === false,
    unreadable: null,
  };
}

/**
 * Reads a gzipped npm tarball as it streams: counts the unpacked bytes (refusing a tar bomb as soon
 * as it passes `maxUnpacked`) and keeps the package's own package.json (the first path segment is
 * the package folder, usually `package/`). Nothing is written anywhere. Every entry is read as npm's
 * extractor (node-tar) reads it, and its path resolved as it would be extracted ({@link possiblePaths}):
 * an archive npm could read differently (a second package.json under another spelling, extended headers
 * that would change the entry sizes or types, content after the end) is refused as malformed.
 */
export async function inspectTarball(
  gzipped: ReadableStream<Uint8Array>,
  maxUnpacked: number,
): Promise<TarSummary> {
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    // cast: TypeScript's DOM lib types DecompressionStream over BufferSource, not the Uint8Array it yields.
    const gunzip = new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
    reader = gzipped.pipeThrough(gunzip).getReader();
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
  let bindingGyp = false;
  const bundled = new Map<string, BundledPackage>();
  const bundledRead = new Set<BundledPackage>();
  const bundledAt = (folder: string) => {
    let found = bundled.get(folder);
    if (!found) {
      found = {
        folder,
        name: null,
        version: null,
        installScripts: {},
        noGypfile: false,
        bindingGyp: false,
        unreadable: null,
      };
      bundled.set(folder, found);
    }
    return found;
  };
  let extended: Extended = {};
  let sawEnd = false;
  while (await fill(BLOCK)) {
    const header = take(BLOCK);
    if (header.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    if (!checksumOk(header)) throw malformed('a tar header is corrupt');
    const size = octal(header, 124, 12);
    const type = header[156] === 0 ? '' : decoder.decode(header.subarray(156, 157));
    const fileSystem = FILE_SYSTEM_TYPES.has(type);
    const meta = META_TYPES.has(type);
    // As node-tar: extended values apply to file system entries only; the ustar prefix is read from
    // POSIX ustar headers only (130 bytes when the header carries times).
    let headerPath = (fileSystem ? extended.path : undefined) ?? pathField(header, 0, 100);
    if (decoder.decode(header.subarray(257, 265)) === 'ustar\u000000') {
      const prefix = pathField(header, 345, header[475] !== 0 ? 155 : 130);
      if (header[475] !== 0 || prefix !== '') headerPath = `${prefix}/${headerPath}`;
    }
    const name = (fileSystem ? extended.path : undefined) ?? headerPath;
    const linkpath = (fileSystem ? extended.linkpath : undefined) ?? pathField(header, 157, 100);
    // node-tar skips just the header block of each of these and reads what follows as headers.
    if (headerPath === '' || name === '') throw malformed('a tar entry has no path');
    if ((type === '1' || type === '2') === (linkpath === '') && type !== 'x' && type !== 'g')
      throw malformed('a tar entry has a link target where it may not, or lacks one');
    const folder = type === '5' || (type === '0' && headerPath.endsWith('/'));
    if (folder && size > 0) throw malformed('a tar folder entry has content');
    if (meta && (size === 0 || size > MAX_META))
      throw malformed('a tar extended header is empty or too large');
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (size > maxUnpacked || unpackedSize + size > maxUnpacked) {
      await reader.cancel().catch(() => undefined);
      throw new RegistryError('unpacked_too_large', `the package unpacks to more than ${maxUnpacked} bytes`);
    }
    const regular = !folder && (type === '0' || type === '' || type === '7');
    const lands = meta ? [] : possiblePaths(name);
    if (lands.some((path) => path.startsWith('package.json/')))
      throw malformed('a tar entry would turn package.json into a folder');
    const isManifest = lands.includes('package.json');
    if (isManifest) {
      // npm extracts every entry in order, so a second package.json would silently replace the one
      // scanned here (a clean manifest first, install scripts after): refused, whatever its spelling.
      if (sawManifest) throw malformed('the tarball holds two package.json files');
      sawManifest = true;
      if (!regular || extractedPath(name) !== 'package.json')
        throw malformed(`the tar entry ${JSON.stringify(name.slice(0, 200))} may or may not be package.json`);
    }
    if (regular && lands.includes('binding.gyp')) bindingGyp = true;
    // Bundled packages: every spelling of a path npm may read as one of their package.json or
    // binding.gyp counts, and a link anywhere below node_modules could hand npm another file.
    let bundledJson: BundledPackage[] = [];
    const link = type === '1' || type === '2';
    for (const path of lands) {
      const match = BUNDLED_FILE.exec(path);
      if (match) {
        const found = bundledAt(match[1]!.slice(0, -1));
        if (link) found.unreadable = 'its package.json or binding.gyp is a link';
        else if (match[2] === 'binding.gyp') found.bindingGyp = true;
        else if (!regular) found.unreadable = 'its package.json is not a file';
        else bundledJson = [...bundledJson, found];
      } else if (link && (path === 'node_modules' || path.startsWith('node_modules/'))) {
        bundledAt(path).unreadable = 'a link below node_modules';
      }
    }
    if (meta || isManifest || bundledJson.length > 0) {
      if (!(await fill(padded))) throw malformed('the tarball is truncated');
      const data = take(padded).subarray(0, size);
      if (type === 'L' || type === 'N' || type === 'K') {
        const value = decoder.decode(data).replace(/\0.*/, '');
        extended = type === 'K' ? { ...extended, linkpath: value } : { ...extended, path: value };
      } else if (meta) {
        const records = paxRecords(data);
        // A size or type of its own would make node-tar read another entry than the header says.
        if (records.has('size') || records.has('type') || (type === 'g' && records.has('linkpath')))
          throw malformed('a tar extended header changes an entry’s size, type or link');
        if (type !== 'g') {
          const path = records.get('path');
          const link = records.get('linkpath');
          extended = {
            ...extended,
            ...(path === undefined ? {} : { path }),
            ...(link === undefined ? {} : { linkpath: link }),
          };
        }
      } else if (!isManifest) {
        const read = bundledManifest(data);
        for (const found of bundledJson) {
          // A second package.json for one folder (npm keeps the last): what either runs counts.
          if (bundledRead.has(found)) found.unreadable ??= 'it has two package.json files';
          bundledRead.add(found);
          found.name = read.name ?? found.name;
          found.version = read.version ?? found.version;
          found.installScripts = { ...found.installScripts, ...read.installScripts };
          found.noGypfile ||= read.noGypfile;
          found.unreadable ??= read.unreadable;
        }
      } else {
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
        if (!(await fill(Math.min(left, 64 * 1024)))) throw malformed('the tarball is truncated');
        left -= take(Math.min(left, buffer.length)).length;
      }
    }
    if (!meta) extended = {};
    if (regular) unpackedSize += size;
  }
  // node-tar reads on past a lone zero block: whatever follows the end must be zeros too.
  while (sawEnd) {
    if (buffer.some((b) => b !== 0)) throw malformed('the tarball has content after its end');
    buffer = new Uint8Array(0);
    if (!(await fill(1))) break;
  }
  if (!sawEnd && !streamDone) await reader.cancel().catch(() => undefined);
  if (!sawEnd && buffer.length > 0)
    throw new RegistryError('malformed_tarball', 'the tarball ends inside a tar header');
  if (!sawEnd && unpackedSize === 0 && !manifest)
    throw new RegistryError('malformed_tarball', 'the tarball is empty or truncated');
  if (!manifest)
    throw new RegistryError('invalid_manifest', manifestError ?? 'the tarball has no package.json');
  return { unpackedSize, manifest, bindingGyp, bundled: [...bundled.values()] };
}

/** The package.json inside tarball bytes already verified and stored. */
export async function readManifest(bytes: Uint8Array): Promise<Record<string, unknown>> {
  const stream = new Blob([bytes as BlobPart]).stream();
  return (await inspectTarball(stream, Number.MAX_SAFE_INTEGER)).manifest;
}
