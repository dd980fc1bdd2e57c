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
