import semver from 'semver';
import { type Collector, isObject, type Json, registryTarball, text } from './lockfile-collector.ts';
import { MAX_LOCKFILE_PACKAGES } from './lockfile-types.ts';
import { validPackageName } from './package-name.ts';

/** v1: nested `dependencies`; an alias's version is `npm:<real>@<version>`. */
export function readDependencies(
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
    // A bad name is refused before its source is looked at: `../../etc` is never "unsupported".
    if (!validPackageName(installedName)) {
      out.error(`${errorPath}.name`, `"${installedName.slice(0, 100)}" is not a valid npm package name`);
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

/** Entries in a v1 tree, counted up to just past the limit (so a huge tree costs no more). */
export function countV1(dependencies: Json, depth = 0): number {
  let n = 0;
  for (const raw of Object.values(dependencies)) {
    n++;
    if (depth < 200 && isObject(raw) && isObject(raw.dependencies)) n += countV1(raw.dependencies, depth + 1);
    if (n > MAX_LOCKFILE_PACKAGES) return n;
  }
  return n;
}
