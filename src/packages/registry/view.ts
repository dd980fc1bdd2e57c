import semver from 'semver';
import { validPackageName } from '../lockfile.ts';

/**
 * What a tenant decided about one version, as its npm view reports it: `allowed` (approved, being
 * published or published for this tenant), `rejected`, `awaiting_approval`, `in_progress` (still being
 * checked), `failed` (the checks could not finish) or `unknown` (never requested by this tenant).
 */
export type TenantDecision =
  | 'allowed'
  | 'rejected'
  | 'awaiting_approval'
  | 'in_progress'
  | 'failed'
  | 'unknown';

const ALLOWED = new Set(['approved', 'publishing', 'published']);
const IN_PROGRESS = new Set(['received', 'license_check', 'downloading', 'scanning']);

/** The decision a package status (a `package_list.status`, or none) stands for. */
export function decisionOf(status: string | undefined): TenantDecision {
  if (status === undefined) return 'unknown';
  if (ALLOWED.has(status)) return 'allowed';
  if (status === 'rejected' || status === 'awaiting_approval' || status === 'failed') return status;
  return IN_PROGRESS.has(status) ? 'in_progress' : 'unknown';
}

/** One version a tenant let in, with the integrity its checks recorded (null: not recorded). */
export interface AllowedVersion {
  version: string;
  integrity: string | null;
}

/** An npm packument as registries serve it: only the fields the view reads are typed. */
export interface Packument {
  name?: unknown;
  'dist-tags'?: unknown;
  versions?: unknown;
  time?: unknown;
  [field: string]: unknown;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The highest version of `versions`, preferring releases to prereleases (as `npm publish` moves
 * `latest` only for what a user would install by default); undefined for none.
 */
export function highestVersion(versions: readonly string[]): string | undefined {
  const valid = versions.filter((v) => semver.valid(v) !== null);
  const releases = valid.filter((v) => semver.prerelease(v) === null);
  const pool = releases.length > 0 ? releases : valid;
  return pool.reduce<string | undefined>(
    (best, v) => (best === undefined || semver.gt(v, best) ? v : best),
    undefined,
  );
}

/**
 * The packument a tenant sees: the source registry's document cut down to the versions this tenant
 * let in whose bytes are the ones its checks recorded (a version the source holds with another
 * integrity is left out), each version's `dist.tarball` pointing at `tarballUrl(version)` and its
 * `dist.integrity` the recorded one, `time` cut to the same versions, and `dist-tags` recomputed:
 * `latest` is the highest version left, any other tag survives only if its version does.
 * Pure: the caller fetched the source and read the decisions.
 */
export function tenantPackument(
  source: Packument,
  allowed: readonly AllowedVersion[],
  tarballUrl: (version: string) => string,
): Packument {
  const sourceVersions = isRecord(source.versions) ? source.versions : {};
  const versions: Record<string, unknown> = {};
  for (const { version, integrity } of allowed) {
    const document = Object.hasOwn(sourceVersions, version) ? sourceVersions[version] : undefined;
    if (!isRecord(document)) continue;
    const dist = isRecord(document.dist) ? document.dist : {};
    const held = typeof dist.integrity === 'string' ? dist.integrity : undefined;
    if (integrity !== null && held !== undefined && held !== integrity) continue;
    const recorded = integrity ?? held;
    const { shasum, ...rest } = dist;
    versions[version] = {
      ...document,
      dist: {
        ...rest,
        // A shasum is kept only beside the integrity it came with: npm checks the strongest it gets.
        ...(recorded === held && typeof shasum === 'string' ? { shasum } : {}),
        ...(recorded === undefined ? {} : { integrity: recorded }),
        tarball: tarballUrl(version),
      },
    };
  }
  const kept = Object.keys(versions);
  const tags: Record<string, string> = {};
  const sourceTags = isRecord(source['dist-tags']) ? source['dist-tags'] : {};
  for (const [tag, version] of Object.entries(sourceTags)) {
    if (tag !== 'latest' && typeof version === 'string' && Object.hasOwn(versions, version))
      tags[tag] = version;
  }
  const latest = highestVersion(kept);
  if (latest !== undefined) tags.latest = latest;
  const time: Record<string, unknown> = {};
  if (isRecord(source.time)) {
    for (const [key, value] of Object.entries(source.time)) {
      if (key === 'created' || key === 'modified' || Object.hasOwn(versions, key)) time[key] = value;
    }
  }
  const { _attachments: _dropped, ...rest } = source;
  return { ...rest, 'dist-tags': tags, versions, time };
}

/** A tarball path's parts: `<name>/-/<file>` with `<name>` `pkg`, `@scope/pkg` or `@scope%2fpkg`. */
export interface TarballPath {
  name: string;
  version: string;
}

/**
 * Reads the package name and version from a tarball path below the view (`fw/-/fw-1.0.0.tgz`,
 * `@s/p/-/p-2.0.0.tgz`, `@s%2fp/-/@s/p-2.0.0.tgz`); undefined when it is not one.
 */
export function parseTarballPath(path: string): TarballPath | undefined {
  const at = path.indexOf('/-/');
  if (at <= 0) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(path.slice(0, at));
  } catch {
    return undefined;
  }
  if (!validPackageName(name)) return undefined;
  const file =
    path
      .slice(at + 3)
      .split('/')
      .at(-1) ?? '';
  const bare = name.slice(name.indexOf('/') + 1);
  if (!file.startsWith(`${bare}-`) || !file.endsWith('.tgz')) return undefined;
  const version = file.slice(bare.length + 1, -'.tgz'.length);
  return semver.valid(version) === version ? { name, version } : undefined;
}
