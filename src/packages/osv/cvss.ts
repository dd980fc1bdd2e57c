import calculator from 'ae-cvss-calculator';
import type { Severity } from '../../commands/packages/index.ts';

/** The OSV `severity[].type` values that carry a CVSS vector, newest specification first. */
export const CVSS_TYPES = ['CVSS_V4', 'CVSS_V3', 'CVSS_V2'] as const;
export type CvssType = (typeof CVSS_TYPES)[number];

/** The base metrics each version requires; the library scores a partial vector as 0, so it is refused first. */
const required: Record<CvssType, { prefix: RegExp; metrics: readonly string[] }> = {
  CVSS_V4: {
    prefix: /^CVSS:4\.0\//,
    metrics: ['AV', 'AC', 'AT', 'PR', 'UI', 'VC', 'VI', 'VA', 'SC', 'SI', 'SA'],
  },
  CVSS_V3: { prefix: /^CVSS:3\.[01]\//, metrics: ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'] },
  CVSS_V2: { prefix: /^(?:CVSS:2\.0\/|\(?AV:)/, metrics: ['AV', 'AC', 'Au', 'C', 'I', 'A'] },
};

/**
 * The base score of a CVSS vector of the given OSV type (v2, v3.0/3.1 or v4.0), computed by
 * `ae-cvss-calculator`; undefined when the vector is not of that version or lacks a base metric.
 */
export function cvssBaseScore(type: CvssType, vector: string): number | undefined {
  const text = vector.trim();
  const rule = required[type];
  if (text.length > 500 || !rule.prefix.test(text)) return undefined;
  const metrics = new Map<string, string>();
  for (const part of text.replace(/^\(|\)$/g, '').split('/')) {
    const [key, value, ...rest] = part.split(':');
    if (key && value && rest.length === 0) metrics.set(key, value);
  }
  if (rule.metrics.some((m) => !metrics.has(m) || metrics.get(m) === 'X')) return undefined;
  let scores: { base?: unknown } | undefined;
  try {
    scores = calculator.fromVector(text)?.calculateScores();
  } catch {
    return undefined;
  }
  const base = scores?.base;
  return typeof base === 'number' && Number.isFinite(base) && base >= 0 && base <= 10 ? base : undefined;
}

/** The base score of a CVSS v3.0/v3.1 vector (`CVSS:3.1/AV:N/…`), or undefined when it is not one. */
export function cvss3BaseScore(vector: string): number | undefined {
  return cvssBaseScore('CVSS_V3', vector);
}

/**
 * The qualitative rating of a CVSS score (0 is `info`: nothing to fix). v3 and v4 share the scale;
 * v2 has no "critical" (7.0–10.0 is high).
 */
export function severityOfScore(score: number, type: CvssType = 'CVSS_V3'): Severity {
  if (score >= 9 && type !== 'CVSS_V2') return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'info';
}
