import type { Severity } from '../../commands/packages/index.ts';

const weights: Record<string, Record<string, number>> = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  C: { H: 0.56, L: 0.22, N: 0 },
  I: { H: 0.56, L: 0.22, N: 0 },
  A: { H: 0.56, L: 0.22, N: 0 },
};

/** CVSS 3.1 "round up": the smallest number with one decimal that is at least the input. */
function roundUp(value: number): number {
  const integer = Math.round(value * 100_000);
  return integer % 10_000 === 0 ? integer / 100_000 : (Math.floor(integer / 10_000) + 1) / 10;
}

/** The base score of a CVSS v3.0/v3.1 vector (`CVSS:3.1/AV:N/…`), or undefined when it is not one. */
export function cvss3BaseScore(vector: string): number | undefined {
  const parts = vector.trim().split('/');
  if (!/^CVSS:3\.[01]$/.test(parts[0] ?? '')) return undefined;
  const metrics = new Map(parts.slice(1).map((p) => p.split(':') as [string, string]));
  const scope = metrics.get('S');
  const pr = metrics.get('PR');
  const value = (metric: string) => weights[metric]?.[metrics.get(metric) ?? ''];
  const av = value('AV');
  const ac = value('AC');
  const ui = value('UI');
  const c = value('C');
  const i = value('I');
  const a = value('A');
  const privileges =
    pr === 'N'
      ? 0.85
      : pr === 'L'
        ? scope === 'C'
          ? 0.68
          : 0.62
        : pr === 'H'
          ? scope === 'C'
            ? 0.5
            : 0.27
          : undefined;
  if ([av, ac, ui, c, i, a, privileges].some((v) => v === undefined) || (scope !== 'U' && scope !== 'C')) {
    return undefined;
  }
  const iss = 1 - (1 - c!) * (1 - i!) * (1 - a!);
  const impact = scope === 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * av! * ac! * privileges! * ui!;
  if (impact <= 0) return 0;
  return scope === 'U'
    ? roundUp(Math.min(impact + exploitability, 10))
    : roundUp(Math.min(1.08 * (impact + exploitability), 10));
}

/** The qualitative rating of a CVSS score (0 is `info`: nothing to fix). */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'info';
}
