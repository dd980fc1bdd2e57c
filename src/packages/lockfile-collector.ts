import semver from 'semver';
import { normalizeLicense } from './license.ts';
import type { LockedPackage, RejectedEntry } from './lockfile-types.ts';
import { validPackageName } from './package-name.ts';

export type Json = Record<string, unknown>;
export const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
export const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Is `resolved` the registry tarball of `name@version` (`…/<name>/-/<basename>-<version>.tgz`)? */
export function registryTarball(resolved: string, name: string, version: string): boolean {
  if (!/^https?:\/\//i.test(resolved)) return false;
  const base = name.split('/').at(-1)!;
  const path = resolved.split(/[?#]/)[0]!;
  return path.endsWith(`/-/${base}-${version}.tgz`);
}

/** One location of a package in a lockfile, before locations of one `name@version` are merged. */
export interface Occurrence {
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

/** Gathers a lockfile's packages (merged per `name@version`), its rejected entries and its errors. */
export class Collector {
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

export const licenseOf = (value: unknown): string | undefined => {
  if (value === undefined) return undefined;
  return normalizeLicense(value).expression ?? undefined;
};
