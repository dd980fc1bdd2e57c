import {
  type Collector,
  isObject,
  type Json,
  licenseOf,
  registryTarball,
  text,
} from './lockfile-collector.ts';
import { validPackageName } from './package-name.ts';

/** The installed name at a v2/v3 location: what follows the last `node_modules/`. */
function nameAtPath(path: string): string | undefined {
  const index = path.lastIndexOf('node_modules/');
  return index < 0 ? undefined : path.slice(index + 'node_modules/'.length);
}

/** v2 and v3: the flat `packages` map keyed by location. */
export function readPackagesMap(packages: Json, out: Collector) {
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
    // A bad name is refused before its source is looked at: `node_modules/../../etc` is never "unsupported".
    const badName = [installedName, text(raw.name)].find((n) => n !== undefined && !validPackageName(n));
    if (badName !== undefined) {
      out.error(`${errorPath}.name`, `"${badName.slice(0, 100)}" is not a valid npm package name`);
      continue;
    }
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
