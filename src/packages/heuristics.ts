import type { Finding } from '../commands/packages/index.ts';
import { normalizeLicense, sameLicense } from './license.ts';
import popularNames from './popular-packages.json' with { type: 'json' };

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'] as const;

const popular = new Set<string>(popularNames);
const baseOf = (name: string) => name.slice(name.indexOf('/') + 1);
/** Separators typosquats add or drop (`crossenv` for `cross-env`). */
const squash = (name: string) => name.replace(/[-_.]/g, '');
const byLength = new Map<number, string[]>();
for (const name of popular) {
  const length = baseOf(name).length;
  byLength.set(length, [...(byLength.get(length) ?? []), name]);
}
// Unscoped names first: `lodahs` imitates `lodash` before it imitates `@types/lodash`.
for (const names of byLength.values())
  names.sort((a, b) => Number(a.startsWith('@')) - Number(b.startsWith('@')));
const squashed = new Map<string, string>();
for (const name of [...popular].sort((a, b) => Number(b.startsWith('@')) - Number(a.startsWith('@')))) {
  squashed.set(squash(baseOf(name)), name);
}

/** Optimal string alignment distance (Damerau–Levenshtein with adjacent swaps), stopping above `max`. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let previous2: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, previous2[j - 2]! + 1);
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > max) return max + 1;
    previous2 = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The popular package a name imitates, if any: within one edit (two for names of eight characters
 * or more) of a popular name's last part, or equal to it once separators are dropped. Popular
 * packages themselves are never lookalikes.
 */
export function lookalikeOf(name: string): string | undefined {
  if (popular.has(name)) return undefined;
  const base = baseOf(name);
  const max = base.length >= 8 ? 2 : 1;
  const same = squashed.get(squash(base));
  if (same && same !== name && baseOf(same) !== base) return same;
  if (base.length < 4) return undefined;
  for (let length = base.length - max; length <= base.length + max; length++) {
    for (const candidate of byLength.get(length) ?? []) {
      const candidateBase = baseOf(candidate);
      if (candidateBase === base) continue;
      if (editDistance(base, candidateBase, max) <= max) return candidate;
    }
  }
  return undefined;
}

export interface HeuristicInput {
  name: string;
  version: string;
  /** The tarball's package.json. */
  manifest: Record<string, unknown> | null;
  lockfileLicense?: string | null;
  /** The registry's deprecation message for this version. */
  deprecated?: string | null;
}

/**
 * Signs that a package needs a person's look even without an advisory: install scripts (they run
 * on every `npm install`), no license, a tarball license other than the lockfile's, a name imitating
 * a popular package, a deprecated version.
 */
export function heuristicFindings(input: HeuristicInput): Finding[] {
  const findings: Finding[] = [];
  const manifest = input.manifest ?? {};
  const scripts =
    typeof manifest.scripts === 'object' && manifest.scripts !== null
      ? (manifest.scripts as Record<string, unknown>)
      : {};
  const present = INSTALL_SCRIPTS.filter(
    (s) => typeof scripts[s] === 'string' && (scripts[s] as string).trim() !== '',
  );
  if (present.length > 0) {
    findings.push({
      id: 'install_script',
      kind: 'install_script',
      severity: 'medium',
      summary: `runs ${present.map((s) => `${s}: ${String(scripts[s]).slice(0, 200)}`).join('; ')}`,
    });
  }
  const { expression } = normalizeLicense(manifest.license ?? manifest.licenses);
  if (expression === null) {
    findings.push({
      id: 'missing_license',
      kind: 'missing_license',
      severity: 'low',
      summary: 'the package declares no license',
    });
  }
  const lockfileLicense = input.lockfileLicense ?? null;
  if (lockfileLicense !== null && expression !== null && !sameLicense(lockfileLicense, expression)) {
    findings.push({
      id: 'license_mismatch',
      kind: 'license_mismatch',
      severity: 'medium',
      summary: `the lockfile says ${lockfileLicense}, the tarball’s package.json says ${expression}`,
    });
  }
  const lookalike = lookalikeOf(input.name);
  if (lookalike) {
    findings.push({
      id: `typosquat:${lookalike}`,
      kind: 'typosquat',
      severity: 'high',
      summary: `the name ${input.name} is close to the popular package ${lookalike}`,
    });
  }
  if (input.deprecated) {
    findings.push({
      id: 'deprecated',
      kind: 'deprecated',
      severity: 'low',
      summary: `deprecated: ${input.deprecated.slice(0, 500)}`,
    });
  }
  return findings;
}
