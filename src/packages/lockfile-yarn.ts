import * as yarnLockfile from '@yarnpkg/lockfile';
import semver from 'semver';
import { Collector, isObject, type Json, registryTarball, text } from './lockfile-collector.ts';
import { type LockfileResult, MAX_LOCKFILE_PACKAGES } from './lockfile-types.ts';
import { validPackageName } from './package-name.ts';

type YarnParse = typeof yarnLockfile.parse;
// A CommonJS bundle flagged `__esModule`: bundlers expose `parse` on the namespace, Node's ESM loader
// only on the default export (the module object).
const parseV1: YarnParse =
  (yarnLockfile as { parse?: YarnParse }).parse ?? (yarnLockfile.default as { parse: YarnParse }).parse;

/**
 * Appended to every yarn.lock before `@yarnpkg/lockfile` reads it. Its tokenizer scans a comment up
 * to the next "\n" and a quoted string up to the next unescaped '"' without checking for the end of
 * the text: a last comment without a newline, or a quote never closed, makes it append `undefined`
 * to a string until V8 refuses its length, about 10 s of one core and half a gigabyte later (a
 * 3-byte body did it). After this, a comment ends at its newline and an open string at its quote
 * (then fails as the invalid JSON it is); for any text Yarn could read, it is one more comment.
 */
const TOKENIZER_STOP = '\n#"\n';

/** `name@range` → name and range; `alias@npm:real@range` keeps `npm:real@range` as the range. */
export function splitDescriptor(descriptor: string): { name: string; range: string } | undefined {
  const at = descriptor.indexOf('@', 1);
  if (at <= 0) return undefined;
  return { name: descriptor.slice(0, at), range: descriptor.slice(at + 1) };
}

/** The real name behind an `npm:` alias range (`npm:ms@2.0.0` → ms), else the descriptor's name. */
function realName(name: string, range: string): string {
  const alias = /^npm:(@?[^@]+)@/.exec(range);
  return alias ? alias[1]! : name;
}

const tooMany = (): LockfileResult => ({
  ok: false,
  errors: [
    { path: '(body)', message: `names more than ${MAX_LOCKFILE_PACKAGES} packages: split the request` },
  ],
});

/** The top-level entry headers of a v1 yarn.lock, each split into its descriptors. */
function headersOf(textBody: string): { line: number; descriptors: string[] }[] {
  const headers: { line: number; descriptors: string[] }[] = [];
  textBody.split(/\r?\n/).forEach((line, index) => {
    if (line === '' || /^[\s#]/.test(line) || !line.endsWith(':')) return;
    const descriptors = line
      .slice(0, -1)
      .split(/,\s*/)
      .map((d) => d.trim().replace(/^"(.*)"$/, '$1'));
    headers.push({ line: index + 1, descriptors });
  });
  return headers;
}

/**
 * Reads a Yarn v1 (`# yarn lockfile v1`) yarn.lock with Yarn's own parser. The file records no
 * dev or optional flag (those live in package.json), so both read false. Pure, never throws.
 */
export function parseYarnClassic(body: string): LockfileResult {
  const headers = headersOf(body);
  if (headers.length > MAX_LOCKFILE_PACKAGES) return tooMany();
  const seen = new Map<string, number>();
  for (const { line, descriptors } of headers) {
    for (const d of descriptors) {
      const earlier = seen.get(d);
      if (earlier !== undefined)
        return {
          ok: false,
          errors: [
            { path: `(body):${line}`, message: `repeats "${d.slice(0, 100)}" (first at line ${earlier})` },
          ],
        };
      seen.set(d, line);
    }
  }
  let parsed: ReturnType<YarnParse>;
  try {
    parsed = parseV1(body + TOKENIZER_STOP);
  } catch (error) {
    return {
      ok: false,
      errors: [
        {
          path: '(body)',
          message: `is not a yarn.lock Yarn could read (${String((error as Error).message).slice(0, 200)})`,
        },
      ],
    };
  }
  if (parsed.type !== 'success')
    return { ok: false, errors: [{ path: '(body)', message: 'holds unresolved merge conflict markers' }] };
  // Yarn's parser gives every descriptor of an entry its own key, all pointing at one object.
  const entries = new Map<Json, string[]>();
  for (const [descriptor, entry] of Object.entries(parsed.object)) {
    if (!isObject(entry)) continue;
    entries.set(entry, [...(entries.get(entry) ?? []), descriptor]);
  }
  const out = new Collector();
  for (const [entry, descriptors] of entries) {
    const path = descriptors.join(', ');
    const parts = descriptors.map(splitDescriptor);
    const bad = parts.findIndex(
      (p) => p === undefined || !validPackageName(p.name) || !validPackageName(realName(p.name, p.range)),
    );
    if (bad >= 0) {
      out.error(`${path}.name`, `"${descriptors[bad]!.slice(0, 100)}" does not name a valid npm package`);
      continue;
    }
    const first = parts[0]!;
    const name = realName(first.name, first.range);
    const version = text(entry.version);
    if (version === undefined) {
      out.error(`${path}.version`, 'is missing');
      continue;
    }
    const resolved = text(entry.resolved);
    const external = parts.some((p) => /^(file|link|portal|git\+|git:|github:|https?:)/.test(p!.range));
    if (
      external ||
      resolved === undefined ||
      !registryTarball(resolved, name, version) ||
      semver.valid(version) !== version
    ) {
      out.rejected.push({
        path,
        name: first.name,
        source: (resolved ?? first.range).slice(0, 2000),
        reason: 'unsupported_source',
      });
      continue;
    }
    const integrity = text(entry.integrity);
    for (const p of parts) {
      out.add(
        {
          path,
          installedName: p!.name,
          name,
          version,
          ...(integrity ? { integrity } : {}),
          resolved,
          dev: false,
          optional: false,
          peer: false,
          bundled: false,
        },
        path,
      );
    }
  }
  if (out.errors.length > 0) return { ok: false, errors: out.errors };
  return {
    ok: true,
    format: 'yarn-classic',
    lockfileVersion: 1,
    packages: out.packages(),
    rejected: out.rejected,
  };
}

/**
 * Reads a Yarn Berry (2+) yarn.lock, already loaded as YAML. Berry's `checksum` is a hash of Yarn's
 * own cache archive, not the npm tarball's integrity: packages carry no integrity, so the download
 * step verifies against the registry's `dist.integrity`. `patch:` resolutions name the npm package
 * they patch (Warden vets that package; the patch is applied on the user's machine). Pure, never throws.
 */
export function parseYarnBerry(doc: Json): LockfileResult {
  const metadata = doc.__metadata;
  const version = isObject(metadata) ? Number.parseInt(text(metadata.version) ?? '', 10) : Number.NaN;
  if (!(version >= 3 && version <= 99))
    return {
      ok: false,
      errors: [
        { path: '__metadata.version', message: 'must be the lockfile version Yarn 2 or newer writes' },
      ],
    };
  const entries = Object.entries(doc).filter(([key]) => key !== '__metadata');
  if (entries.length > MAX_LOCKFILE_PACKAGES) return tooMany();
  const out = new Collector();
  for (const [key, entry] of entries) {
    if (!isObject(entry)) {
      out.error(key, 'must be a mapping');
      continue;
    }
    const descriptors = key.split(/,\s*/).map((d) => d.trim());
    const parts = descriptors.map(splitDescriptor);
    const resolution = text(entry.resolution) ?? '';
    const resolved = splitDescriptor(resolution);
    const bad = [...parts, resolved].findIndex((p) => p === undefined || !validPackageName(p.name));
    if (bad >= 0) {
      out.error(
        `${key}.name`,
        `"${(bad < descriptors.length ? descriptors[bad]! : resolution).slice(0, 100)}" does not name a valid npm package`,
      );
      continue;
    }
    const base = registryLocator(resolved!.name, resolved!.range);
    if (!base) {
      if (resolved!.range.startsWith('workspace:') && resolved!.range === 'workspace:.') continue;
      out.rejected.push({
        path: key,
        name: resolved!.name,
        source: resolution.slice(0, 2000),
        reason: 'unsupported_source',
      });
      continue;
    }
    if (!validPackageName(base.name)) {
      out.error(`${key}.resolution`, `"${base.name.slice(0, 100)}" is not a valid npm package name`);
      continue;
    }
    for (const p of parts) {
      out.add(
        {
          path: key,
          installedName: p!.name,
          name: base.name,
          version: base.version,
          dev: false,
          optional: false,
          peer: false,
          bundled: false,
        },
        key,
      );
    }
  }
  if (out.errors.length > 0) return { ok: false, errors: out.errors };
  return {
    ok: true,
    format: 'yarn-berry',
    lockfileVersion: version,
    packages: out.packages(),
    rejected: out.rejected,
  };
}

/**
 * The registry package behind a Berry locator's reference: `npm:1.0.0` (with any `::__archiveUrl=`
 * Yarn notes when the tarball lives elsewhere: Warden fetches from its own upstream, never from it),
 * `npm:real@1.0.0`, and `patch:name@npm%3A1.0.0#…` (the npm package a patch applies to).
 */
function registryLocator(name: string, reference: string): { name: string; version: string } | undefined {
  if (reference.startsWith('patch:')) {
    let inner: string;
    try {
      inner = decodeURIComponent(reference.slice('patch:'.length).split('#')[0]!);
    } catch {
      return undefined;
    }
    const split = splitDescriptor(inner);
    return split ? registryLocator(split.name, split.range) : undefined;
  }
  if (!reference.startsWith('npm:')) return undefined;
  const bare = reference.slice('npm:'.length).split('::')[0]!;
  const alias = /^(@?[^@]+)@(.+)$/.exec(bare);
  const version = alias ? alias[2]! : bare;
  if (semver.valid(version) !== version) return undefined;
  return { name: alias ? alias[1]! : name, version };
}
