import { Collector, isObject, text } from './lockfile-collector.ts';
import { type LockfileResult, MAX_LOCKFILE_PACKAGES } from './lockfile-types.ts';
import { countV1, readDependencies } from './lockfile-v1.ts';
import { readPackagesMap } from './lockfile-v2.ts';

export {
  LOCKFILE_FORMATS,
  type LockedPackage,
  type LockfileFormat,
  type LockfileResult,
  MAX_LOCKFILE_PACKAGES,
  type RejectedEntry,
} from './lockfile-types.ts';
export { validPackageName } from './package-name.ts';

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
    format: 'package-lock',
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
