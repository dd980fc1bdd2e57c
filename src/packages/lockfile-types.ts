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

/** Which tool wrote the lockfile: npm's package-lock.json, pnpm-lock.yaml, or yarn.lock (v1 or Berry). */
export type LockfileFormat = 'package-lock' | 'pnpm-lock' | 'yarn-classic' | 'yarn-berry';
export const LOCKFILE_FORMATS = ['package-lock', 'pnpm-lock', 'yarn-classic', 'yarn-berry'] as const;

export type LockfileError = { path: string; message: string };

export type LockfileResult =
  | {
      ok: true;
      format: LockfileFormat;
      /** The format's own version: npm 1–3, pnpm 6–9 (the major of `'9.0'`), Yarn 1, Berry's `__metadata.version`. */
      lockfileVersion: number;
      name?: string;
      version?: string;
      packages: LockedPackage[];
      rejected: RejectedEntry[];
    }
  | { ok: false; errors: LockfileError[] };

/** More entries than this is refused as a whole (the largest real monorepos stay well below it). */
export const MAX_LOCKFILE_PACKAGES = 20_000;
