import semver from 'semver';
import validateName from 'validate-npm-package-name';
import { normalizeLicense } from './license.ts';

/** One registry package a lockfile names (several locations of one `name@version` merged). */
export interface LockedPackage {
  name: string;
  version: string;
  /** `name@version`, with the real name for an `npm:` alias. */
  spec: string;
  integrity?: string;
  resolved?: string;
  /** The lockfile's license (v2/v3 write one), as an SPDX-like expression. */
  license?: string;
  /** True only when every location is a dev dependency (npm omits it with `--omit=dev`). */
  dev: boolean;
  optional: boolean;
  peer: boolean;
  /** Shipped inside its parent's tarball: npm never fetches it on its own. */
  bundled: boolean;
  /** Names it is installed under when they differ from `name` (`npm:` aliases). */
  aliases: string[];
  /** Lockfile locations, `node_modules/a/node_modules/b`. */
  paths: string[];
}

export interface RejectedEntry {
  path: string;
  name?: string;
  /** What it points at instead of the registry: `git+https://…`, `file:../x`, a tarball URL, … */
  source: string;
  reason: 'unsupported_source';
}

export type LockfileResult =
  | {
      ok: true;
      lockfileVersion: 1 | 2 | 3;
      name?: string;
      version?: string;
      packages: LockedPackage[];
      rejected: RejectedEntry[];
    }
  | { ok: false; errors: { path: string; message: string }[] };

/** More entries than this is refused as a whole (the largest real monorepos stay well below it). */
export const MAX_LOCKFILE_PACKAGES = 20_000;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Valid npm package names, old ones included, and nothing that could escape a path. */
export function validPackageName(name: string): boolean {
  if (name.length === 0 || name.length > 214) return false;
  if (!validateName(name).validForOldPackages) return false;
  if (
    name.includes('..') ||
    name.includes('\\') ||
    [...name].some((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127)
  ) {
    return false;
  }
  const parts = name.split('/');
  if (parts.length > 2 || (parts.length === 2 && !parts[0]!.startsWith('@'))) return false;
  const base = parts.at(-1)!;
  return !base.startsWith('.') && !base.startsWith('_');
}

/** Is `resolved` the registry tarball of `name@version` (`…/<name>/-/<basename>-<version>.tgz`)? */
function registryTarball(resolved: string, name: string, version: string): boolean {
  if (!/^https?:\/\//i.test(resolved)) return false;
  const base = name.split('/').at(-1)!;
  const path = resolved.split(/[?#]/)[0]!;
  return path.endsWith(`/-/${base}-${version}.tgz`);
}

/** The installed name at a v2/v3 location: what follows the last `node_modules/`. */
function nameAtPath(path: string): string | undefined {
  const index = path.lastIndexOf('node_modules/');
  return index < 0 ? undefined : path.slice(index + 'node_modules/'.length);
}

interface Occurrence {
  path: string;
  installedName: string;
  name: string;
  version: string;
  integrity?: string;
  resolved?: string;
  license?: string;
  dev: boolean;
  optional: boolean;
  peer: boolean;
  bundled: boolean;
}

class Collector {
  readonly errors: { path: string; message: string }[] = [];
  readonly rejected: RejectedEntry[] = [];
  private readonly bySpec = new Map<string, LockedPackage>();

  error(path: string, message: string) {
    if (this.errors.length < 1000) this.errors.push({ path, message });
  }

  add(o: Occurrence, errorPath: string) {
    if (!validPackageName(o.name))
      return this.error(`${errorPath}.name`, `"${o.name.slice(0, 100)}" is not a valid npm package name`);
    if (o.installedName !== o.name && !validPackageName(o.installedName)) {
      return this.error(errorPath, `"${o.installedName.slice(0, 100)}" is not a valid npm package name`);
    }
    if (semver.valid(o.version) !== o.version) {
      return this.error(`${errorPath}.version`, `"${o.version.slice(0, 100)}" is not a semver version`);
    }
    const spec = `${o.name}@${o.version}`;
    const known = this.bySpec.get(spec);
    if (!known) {
      this.bySpec.set(spec, {
        name: o.name,
        version: o.version,
        spec,
        ...(o.integrity ? { integrity: o.integrity } : {}),
        ...(o.resolved ? { resolved: o.resolved } : {}),
        ...(o.license ? { license: o.license } : {}),
        dev: o.dev,
        optional: o.optional,
        peer: o.peer,
        bundled: o.bundled,
        aliases: o.installedName !== o.name ? [o.installedName] : [],
        paths: [o.path],
      });
      return;
    }
    known.dev &&= o.dev;
    known.optional &&= o.optional;
    known.peer &&= o.peer;
    known.bundled &&= o.bundled;
    if (!known.integrity && o.integrity) known.integrity = o.integrity;
    if (!known.license && o.license) known.license = o.license;
    if (o.installedName !== o.name && !known.aliases.includes(o.installedName))
      known.aliases.push(o.installedName);
    known.paths.push(o.path);
  }

  packages(): LockedPackage[] {
    return [...this.bySpec.values()].sort((a, b) => (a.spec < b.spec ? -1 : a.spec > b.spec ? 1 : 0));
  }
}

const licenseOf = (value: unknown): string | undefined => {
  if (value === undefined) return undefined;
  return normalizeLicense(value).expression ?? undefined;
};

/** v2 and v3: the flat `packages` map keyed by location. */
function readPackagesMap(packages: Json, out: Collector) {
  // A linked folder is reported once, by its link.
  const linked = new Set(
    Object.values(packages)
      .filter((raw): raw is Json => isObject(raw) && raw.link === true && typeof raw.resolved === 'string')
      .map((raw) => raw.resolved as string),
  );
  for (const [path, raw] of Object.entries(packages)) {
    if (path === '' || linked.has(path)) continue;
    const errorPath = `packages.${path}`;
    if (!isObject(raw)) {
      out.error(errorPath, 'must be an object');
      continue;
    }
    const installedName = nameAtPath(path);
    const resolved = text(raw.resolved);
    if (installedName === undefined || raw.link === true) {
      // A workspace or `file:` folder, or a link to one: the user's own code, never fetched.
      out.rejected.push({
        path,
        ...(installedName ? { name: installedName } : {}),
        source: raw.link === true ? `link:${resolved ?? ''}` : `file:${path}`,
        reason: 'unsupported_source',
      });
      continue;
    }
    const name = text(raw.name) ?? installedName;
    const version = text(raw.version);
    if (version === undefined) {
      out.error(`${errorPath}.version`, 'is missing');
      continue;
    }
    if (resolved !== undefined && !registryTarball(resolved, name, version)) {
      out.rejected.push({ path, name, source: resolved.slice(0, 2000), reason: 'unsupported_source' });
      continue;
    }
    const devOptional = raw.devOptional === true;
    out.add(
      {
        path,
        installedName,
        name,
        version,
        ...(text(raw.integrity) ? { integrity: text(raw.integrity)! } : {}),
        ...(resolved ? { resolved } : {}),
        ...(licenseOf(raw.license) ? { license: licenseOf(raw.license)! } : {}),
        dev: raw.dev === true || devOptional,
        optional: raw.optional === true || devOptional,
        peer: raw.peer === true,
        bundled: raw.inBundle === true,
      },
      errorPath,
    );
  }
}

/** v1: nested `dependencies`; an alias's version is `npm:<real>@<version>`. */
function readDependencies(
  dependencies: Json,
  parentPath: string,
  errorPrefix: string,
  out: Collector,
  depth: number,
) {
  if (depth > 200) return out.error(errorPrefix, 'nests too deeply');
  for (const [installedName, raw] of Object.entries(dependencies)) {
    const path = `${parentPath}node_modules/${installedName}`;
    const errorPath = `${errorPrefix}.${installedName}`;
    if (!isObject(raw)) {
      out.error(errorPath, 'must be an object');
      continue;
    }
    const version = text(raw.version);
    if (version === undefined) {
      out.error(`${errorPath}.version`, 'is missing');
      continue;
    }
    let name = installedName;
    let exact = version;
    const alias = /^npm:(@?[^@]+)@(.+)$/.exec(version);
    if (alias) {
      name = alias[1]!;
      exact = alias[2]!;
    }
    const resolved = text(raw.resolved);
    const external = semver.valid(exact) !== exact && /[:/]/.test(exact);
    if (external || (resolved !== undefined && !registryTarball(resolved, name, exact))) {
      out.rejected.push({
        path,
        name: installedName,
        source: (resolved ?? version).slice(0, 2000),
        reason: 'unsupported_source',
      });
    } else {
      out.add(
        {
          path,
          installedName,
          name,
          version: exact,
          ...(text(raw.integrity) ? { integrity: text(raw.integrity)! } : {}),
          ...(resolved ? { resolved } : {}),
          dev: raw.dev === true,
          optional: raw.optional === true,
          peer: raw.peer === true,
          bundled: raw.bundled === true,
        },
        errorPath,
      );
    }
    if (raw.dependencies !== undefined) {
      if (!isObject(raw.dependencies)) out.error(`${errorPath}.dependencies`, 'must be an object');
      else readDependencies(raw.dependencies, `${path}/`, `${errorPath}.dependencies`, out, depth + 1);
    }
  }
}

function countV1(dependencies: Json, depth = 0): number {
  let n = 0;
  for (const raw of Object.values(dependencies)) {
    n++;
    if (depth < 200 && isObject(raw) && isObject(raw.dependencies)) n += countV1(raw.dependencies, depth + 1);
    if (n > MAX_LOCKFILE_PACKAGES) return n;
  }
  return n;
}

/**
 * Reads an npm `package-lock.json` (lockfileVersion 1, 2 or 3) into the registry packages it names,
 * one per `name@version`, and the entries Warden will not fetch (links, folders, git, tarball URLs).
 * Pure: never throws on any JSON, never fetches anything.
 */
export function parseLockfile(input: unknown): LockfileResult {
  if (!isObject(input))
    return { ok: false, errors: [{ path: '(body)', message: 'must be a package-lock.json object' }] };
  const version = input.lockfileVersion;
  if (version !== 1 && version !== 2 && version !== 3) {
    return {
      ok: false,
      errors: [
        {
          path: 'lockfileVersion',
          message:
            version === undefined
              ? 'is missing: this is not a package-lock.json'
              : `must be 1, 2 or 3 (got ${JSON.stringify(version)?.slice(0, 20)})`,
        },
      ],
    };
  }
  const out = new Collector();
  if (version === 1) {
    const dependencies = input.dependencies ?? {};
    if (!isObject(dependencies))
      return { ok: false, errors: [{ path: 'dependencies', message: 'must be an object' }] };
    if (countV1(dependencies) > MAX_LOCKFILE_PACKAGES) return tooMany();
    readDependencies(dependencies, '', 'dependencies', out, 0);
  } else {
    const packages = input.packages;
    if (!isObject(packages))
      return { ok: false, errors: [{ path: 'packages', message: 'must be an object' }] };
    if (Object.keys(packages).length > MAX_LOCKFILE_PACKAGES + 1) return tooMany();
    readPackagesMap(packages, out);
  }
  if (out.errors.length > 0) return { ok: false, errors: out.errors };
  return {
    ok: true,
    lockfileVersion: version,
    ...(text(input.name) ? { name: text(input.name)!.slice(0, 214) } : {}),
    ...(text(input.version) ? { version: text(input.version)!.slice(0, 256) } : {}),
    packages: out.packages(),
    rejected: out.rejected,
  };
}

function tooMany(): LockfileResult {
  return {
    ok: false,
    errors: [
      { path: 'packages', message: `names more than ${MAX_LOCKFILE_PACKAGES} packages: split the request` },
    ],
  };
}
