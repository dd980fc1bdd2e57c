import semver from 'semver';
import type { Finding, Severity } from '../../commands/packages/index.ts';
import { CVSS_TYPES, cvssBaseScore, severityOfScore } from './cvss.ts';
import type { OsvRecord } from './record.ts';

type Event = {
  introduced?: string | undefined;
  fixed?: string | undefined;
  last_affected?: string | undefined;
  limit?: string | undefined;
};

const versionOf = (event: Event) =>
  event.introduced ?? event.fixed ?? event.last_affected ?? event.limit ?? '';

/** npm ordering, with OSV's `0` as "before every version". */
function compare(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '0') return -1;
  if (b === '0') return 1;
  return semver.compare(a, b);
}

const valid = (version: string) => version === '0' || semver.valid(version) === version;

/** One SEMVER/ECOSYSTEM range, evaluated as the OSV specification describes. */
function inRange(version: string, events: readonly Event[]): { affected: boolean; fixVersion?: string } {
  const sorted = events
    .filter((e) => valid(versionOf(e)))
    .sort((x, y) => compare(versionOf(x), versionOf(y)));
  const limits = sorted.filter((e) => e.limit !== undefined && e.limit !== '*');
  if (limits.length > 0 && limits.every((e) => compare(version, e.limit!) >= 0)) return { affected: false };
  let affected = false;
  for (const event of sorted) {
    if (event.introduced !== undefined && compare(version, event.introduced) >= 0) affected = true;
    else if (event.fixed !== undefined && compare(version, event.fixed) >= 0) affected = false;
    else if (event.last_affected !== undefined && compare(version, event.last_affected) > 0) affected = false;
  }
  if (!affected) return { affected: false };
  const fix = sorted.find((e) => e.fixed !== undefined && compare(e.fixed, version) > 0)?.fixed;
  return fix ? { affected: true, fixVersion: fix } : { affected: true };
}

/**
 * Whether an OSV record affects an npm package version: its explicit `versions`, or any `SEMVER` or
 * `ECOSYSTEM` range (npm ordering, prereleases included). `GIT` ranges name commits, not versions.
 */
export function affectedVersions(
  record: OsvRecord,
  name: string,
  version: string,
): { affected: boolean; fixVersion?: string } {
  if (semver.valid(version) !== version) return { affected: false };
  let fixVersion: string | undefined;
  let affected = false;
  for (const entry of record.affected ?? []) {
    if (entry.package?.ecosystem !== 'npm' || entry.package.name !== name) continue;
    if (entry.versions?.includes(version)) affected = true;
    for (const range of entry.ranges ?? []) {
      if (range.type !== 'SEMVER' && range.type !== 'ECOSYSTEM') continue;
      const result = inRange(version, range.events);
      if (result.affected) {
        affected = true;
        if (result.fixVersion && (!fixVersion || compare(result.fixVersion, fixVersion) < 0))
          fixVersion = result.fixVersion;
      }
    }
  }
  return affected ? { affected, ...(fixVersion ? { fixVersion } : {}) } : { affected: false };
}

export const isWithdrawn = (record: OsvRecord): boolean =>
  record.withdrawn !== undefined && record.withdrawn !== '';

/** A malicious-package record (OpenSSF `MAL-` ids): such a package always blocks. */
export function isMalicious(record: OsvRecord): boolean {
  if (record.id.startsWith('MAL-')) return true;
  const origins = (record.database_specific as { 'malicious-packages-origins'?: unknown } | undefined)?.[
    'malicious-packages-origins'
  ];
  return Array.isArray(origins) && origins.length > 0;
}

const ratings: Record<string, Severity> = {
  CRITICAL: 'critical',
  HIGH: 'high',
  MODERATE: 'medium',
  MEDIUM: 'medium',
  LOW: 'low',
};

/**
 * Severity: from the base score of the newest CVSS vector the advisory carries (v4, then v3, then
 * v2), else the advisory's own rating, else medium.
 */
export function severityOf(record: OsvRecord): Severity {
  if (isMalicious(record)) return 'critical';
  for (const type of CVSS_TYPES) {
    for (const s of record.severity ?? []) {
      if (s.type !== type) continue;
      const score = cvssBaseScore(type, s.score);
      if (score !== undefined) return severityOfScore(score, type);
    }
  }
  const own = (record.database_specific as { severity?: unknown } | undefined)?.severity;
  if (typeof own === 'string' && ratings[own.toUpperCase()]) return ratings[own.toUpperCase()]!;
  return 'medium';
}

/** The finding an affecting record makes on a package version. */
export function findingFrom(record: OsvRecord, name: string, version: string): Finding {
  const { fixVersion } = affectedVersions(record, name, version);
  const summary = (record.summary ?? record.details ?? record.id).slice(0, 2000);
  return {
    id: record.id,
    kind: isMalicious(record) ? 'malicious' : 'vulnerability',
    severity: severityOf(record),
    summary,
    ...(fixVersion ? { fixVersion } : {}),
    ...(record.aliases && record.aliases.length > 0 ? { aliases: record.aliases.slice(0, 50) } : {}),
  };
}
