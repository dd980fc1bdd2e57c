import { z } from 'zod';

/** Severity of a finding, highest first; `info` never blocks on its own. */
export const severities = ['critical', 'high', 'medium', 'low', 'info'] as const;
export const Severity = z.enum(severities);
export type Severity = z.infer<typeof Severity>;

/** True when `severity` is at least as bad as `threshold`. */
export function atLeast(severity: Severity, threshold: Severity): boolean {
  return severities.indexOf(severity) <= severities.indexOf(threshold);
}

/**
 * What a check found: a known vulnerability or malicious-package record (from OSV data) or a
 * heuristic. Policies decide which kinds and severities block.
 */
export const findingKinds = [
  'vulnerability',
  'malicious',
  'install_script',
  'missing_license',
  'license_denied',
  'license_unknown',
  'license_mismatch',
  'typosquat',
  'deprecated',
] as const;
export const FindingKind = z.enum(findingKinds);
export type FindingKind = z.infer<typeof FindingKind>;

export const Finding = z.object({
  /** Stable per package: the advisory id (`GHSA-…`, `MAL-…`) or `<kind>` / `<kind>:<detail>` for a heuristic. */
  id: z.string().min(1).max(200),
  kind: FindingKind,
  severity: Severity,
  summary: z.string().max(2000),
  /** Lowest version that is not affected, when the data names one. */
  fixVersion: z.string().max(200).optional(),
  /** Other ids of the same advisory (CVE, GHSA). */
  aliases: z.array(z.string().max(200)).max(50).optional(),
});
export type Finding = z.infer<typeof Finding>;
