import semver from 'semver';
import { Collector, isObject, type Json, registryTarball, text } from './lockfile-collector.ts';
import { type LockfileResult, MAX_LOCKFILE_PACKAGES } from './lockfile-types.ts';
import { flag } from './lockfile-yaml.ts';
import { validPackageName } from './package-name.ts';

/** `name@version` (v9) or `/name@version` (v6), peers suffix `(react@18.0.0)` and all, split apart. */
export function splitPnpmKey(key: string): { name: string; version: string } | undefined {
  const bare = key.startsWith('/') ? key.slice(1) : key;
  const at = bare.indexOf('@', 1);
  if (at <= 0) return undefined;
  const rest = bare.slice(at + 1);
  // A peer suffix only follows a registry version; `file:`/URL/git references keep their parentheses.
  const peers = semver.valid(rest.split('(')[0]!) ? rest.indexOf('(') : -1;
  return { name: bare.slice(0, at), version: peers < 0 ? rest : rest.slice(0, peers) };
}

const DEPENDENCY_FIELDS = ['dependencies', 'optionalDependencies', 'devDependencies'] as const;

/** The key a dependency `name: value` points at: `ms: 2.0.0` → `ms@2.0.0`, an alias `my-ms: ms@2.0.0` as is. */
function targetKey(name: string, value: string, slashKeys: boolean): string | undefined {
  if (value.startsWith('link:')) return undefined;
  if (slashKeys) return value.startsWith('/') ? value : `/${name}@${value}`;
  const head = value.split('(')[0]!;
  return head.indexOf('@', 1) > 0 && !/^[a-z+]+:/.test(head) ? value : `${name}@${value}`;
}

/**
 * Reads a pnpm-lock.yaml (lockfileVersion 6.x, and 7.0 to 9.x, which split `packages` and
 * `snapshots`) into the same packages and refusals as a package-lock.json. `dev` is the lockfile's
 * own flag in v6; from v9 on (the flag is gone) it is derived: a package reached from an importer's
 * `devDependencies` only. Pure, never throws.
 */
export function parsePnpmLockfile(doc: Json): LockfileResult {
  const raw = text(doc.lockfileVersion);
  const major = raw && /^\d+(\.\d+)?$/.test(raw) ? Number.parseInt(raw, 10) : Number.NaN;
  if (!(major >= 6 && major <= 9)) {
    return {
      ok: false,
      errors: [
        {
          path: 'lockfileVersion',
          message:
            raw === undefined
              ? 'is missing: this is not a pnpm-lock.yaml'
              : `must be 6.0 to 9.x (got "${raw.slice(0, 20)}"; lockfiles of pnpm 7 and older are rewritten by running pnpm 8 or newer)`,
        },
      ],
    };
  }
  const packages = doc.packages ?? {};
  const snapshots = doc.snapshots ?? {};
  if (!isObject(packages)) return { ok: false, errors: [{ path: 'packages', message: 'must be a mapping' }] };
  if (!isObject(snapshots))
    return { ok: false, errors: [{ path: 'snapshots', message: 'must be a mapping' }] };
  const keys = Object.keys(snapshots).length > 0 ? Object.keys(snapshots) : Object.keys(packages);
  if (Math.max(keys.length, Object.keys(packages).length) > MAX_LOCKFILE_PACKAGES)
    return {
      ok: false,
      errors: [
        { path: 'packages', message: `names more than ${MAX_LOCKFILE_PACKAGES} packages: split the request` },
      ],
    };
  // The format goes by shape, not by number: v6 keeps flags in `packages` and keys them `/name@1.0.0`;
  // v9 (and the short-lived 7.0/8.0) splits `snapshots` off and drops the slash.
  const split = major >= 7 && Object.keys(snapshots).length > 0;
  const slashKeys = Object.keys(packages).some((k) => k.startsWith('/'));
  const importers = importersOf(doc, !split);
  const out = new Collector();
  const aliases = aliasesOf(importers, split ? snapshots : packages, slashKeys);
  const prod = !split || importers.size === 0 ? undefined : reachableFromProduction(importers, snapshots);

  if (split) {
    // v9 (and the short-lived v7/v8): `packages` holds resolutions by `name@version`, `snapshots` the
    // instances by `name@version(peers)`. A package without any snapshot is still read once.
    const seen = new Set<string>();
    for (const key of keys) {
      const parsed = splitPnpmKey(key);
      const base = parsed ? `${parsed.name}@${parsed.version}` : key;
      const snapshot = isObject(snapshots[key]) ? (snapshots[key] as Json) : {};
      const meta = isObject(packages[base]) ? (packages[base] as Json) : undefined;
      seen.add(base);
      readEntry(out, `snapshots.${key}`, key, meta ?? {}, {
        dev: prod !== undefined && !prod.has(key),
        optional: flag(snapshot.optional) || flag(meta?.optional),
        aliases: aliases.get(key) ?? [],
        slashKeys: false,
      });
    }
    for (const [key, meta] of Object.entries(packages)) {
      if (seen.has(key)) continue;
      readEntry(out, `packages.${key}`, key, isObject(meta) ? meta : {}, {
        dev: false,
        optional: isObject(meta) && flag(meta.optional),
        aliases: aliases.get(key) ?? [],
        slashKeys: false,
      });
    }
  } else {
    for (const [key, meta] of Object.entries(packages)) {
      if (!isObject(meta)) {
        out.error(`packages.${key}`, 'must be a mapping');
        continue;
      }
      readEntry(out, `packages.${key}`, key, meta, {
        dev: flag(meta.dev),
        optional: flag(meta.optional),
        aliases: aliases.get(key) ?? [],
        slashKeys,
      });
    }
  }
  // `link:` dependencies are the user's own folders (workspace packages): listed, never fetched.
  for (const [importer, deps] of importers) {
    for (const [name, value] of deps.all) {
      if (!value.startsWith('link:')) continue;
      if (!validPackageName(name)) {
        out.error(`importers.${importer}.${name}`, `"${name.slice(0, 100)}" is not a valid npm package name`);
        continue;
      }
      out.rejected.push({
        path: `importers.${importer}.${name}`,
        name,
        source: value.slice(0, 2000),
        reason: 'unsupported_source',
      });
    }
  }
  if (out.errors.length > 0) return { ok: false, errors: out.errors };
  return {
    ok: true,
    format: 'pnpm-lock',
    lockfileVersion: major,
    packages: out.packages(),
    rejected: out.rejected,
  };
}

function readEntry(
  out: Collector,
  errorPath: string,
  key: string,
  meta: Json,
  how: { dev: boolean; optional: boolean; aliases: string[]; slashKeys: boolean },
) {
  const parsed = splitPnpmKey(key);
  // v6 writes `file:local-lib` keys with the name beside them; v9 always `name@reference`.
  const name = text(meta.name) ?? parsed?.name;
  const badName = [parsed?.name, text(meta.name), ...how.aliases].find(
    (n) => n !== undefined && !validPackageName(n),
  );
  if (badName !== undefined || name === undefined) {
    out.error(`${errorPath}.name`, `"${(badName ?? key).slice(0, 100)}" is not a valid npm package name`);
    return;
  }
  const resolution = isObject(meta.resolution) ? meta.resolution : {};
  const tarball = text(resolution.tarball);
  const version = text(meta.version) ?? parsed?.version;
  const fromRegistry =
    (how.slashKeys ? key.startsWith('/') : true) &&
    parsed !== undefined &&
    semver.valid(parsed.version) === parsed.version &&
    resolution.type === undefined &&
    (tarball === undefined || registryTarball(tarball, name, parsed.version));
  if (!fromRegistry || version === undefined) {
    const source =
      tarball ??
      (resolution.type === 'git'
        ? `git+${text(resolution.repo) ?? ''}#${text(resolution.commit) ?? ''}`
        : undefined) ??
      (resolution.type === 'directory' ? `file:${text(resolution.directory) ?? ''}` : undefined) ??
      parsed?.version ??
      key;
    out.rejected.push({ path: errorPath, name, source: source.slice(0, 2000), reason: 'unsupported_source' });
    return;
  }
  const integrity = text(resolution.integrity);
  for (const installedName of [name, ...how.aliases]) {
    out.add(
      {
        path: errorPath,
        installedName,
        name,
        version,
        ...(integrity ? { integrity } : {}),
        ...(tarball ? { resolved: tarball } : {}),
        dev: how.dev,
        optional: how.optional,
        peer: false,
        bundled: false,
      },
      errorPath,
    );
  }
}

interface ImporterDeps {
  all: [string, string][];
  production: [string, string][];
  development: [string, string][];
}

/** Each importer's dependencies as `name → version reference` (v6 keeps the root's at the top). */
function importersOf(doc: Json, v6: boolean): Map<string, ImporterDeps> {
  const importers = new Map<string, ImporterDeps>();
  const read = (id: string, holder: Json) => {
    const deps: ImporterDeps = { all: [], production: [], development: [] };
    for (const field of DEPENDENCY_FIELDS) {
      const map = holder[field];
      if (!isObject(map)) continue;
      for (const [name, entry] of Object.entries(map)) {
        const version = isObject(entry) ? text(entry.version) : text(entry);
        if (version === undefined) continue;
        deps.all.push([name, version]);
        (field === 'devDependencies' ? deps.development : deps.production).push([name, version]);
      }
    }
    importers.set(id, deps);
  };
  if (isObject(doc.importers)) {
    for (const [id, holder] of Object.entries(doc.importers)) if (isObject(holder)) read(id, holder);
  } else if (v6) read('.', doc);
  else if (isObject(doc.dependencies) || isObject(doc.devDependencies)) read('.', doc);
  return importers;
}

/** Installed names that differ from the real one (`my-ms: npm:ms@2.0.0` is written `my-ms: ms@2.0.0`). */
function aliasesOf(
  importers: Map<string, ImporterDeps>,
  entries: Json,
  slashKeys: boolean,
): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const note = (installed: string, value: string) => {
    const key = targetKey(installed, value, slashKeys);
    const target = key ? splitPnpmKey(key) : undefined;
    if (!key || !target || target.name === installed) return;
    const list = found.get(key) ?? [];
    if (!list.includes(installed) && list.length < 100) list.push(installed);
    found.set(key, list);
  };
  for (const deps of importers.values()) for (const [name, value] of deps.all) note(name, value);
  for (const entry of Object.values(entries)) {
    if (!isObject(entry)) continue;
    for (const field of DEPENDENCY_FIELDS) {
      const map = entry[field];
      if (isObject(map))
        for (const [name, value] of Object.entries(map)) if (typeof value === 'string') note(name, value);
    }
  }
  return found;
}

/** v9 snapshot keys reachable from any importer's dependencies or optionalDependencies. */
function reachableFromProduction(importers: Map<string, ImporterDeps>, snapshots: Json): Set<string> {
  const reached = new Set<string>();
  const queue: string[] = [];
  const visit = (name: string, value: string) => {
    const key = targetKey(name, value, false);
    if (key && !reached.has(key) && key in snapshots) {
      reached.add(key);
      queue.push(key);
    }
  };
  for (const deps of importers.values()) for (const [name, value] of deps.production) visit(name, value);
  while (queue.length > 0) {
    const snapshot = snapshots[queue.pop()!];
    if (!isObject(snapshot)) continue;
    for (const field of ['dependencies', 'optionalDependencies'] as const) {
      const map = snapshot[field];
      if (isObject(map))
        for (const [name, value] of Object.entries(map)) if (typeof value === 'string') visit(name, value);
    }
  }
  return reached;
}
