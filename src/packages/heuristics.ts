import type { Finding } from '../commands/packages/index.ts';
import { normalizeLicense, sameLicense } from './license.ts';
import popularNames from './popular-packages.json' with { type: 'json' };
import type { BundledPackage } from './registry/tarball.ts';

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
  /** A `binding.gyp` at the tarball's root. */
  bindingGyp?: boolean;
  /** The registry's document for this version, whose `scripts` and `hasInstallScript` npm may act on. */
  registryManifest?: Record<string, unknown>;
  /** Packages shipped inside the tarball, whose install scripts npm runs as well. */
  bundled?: readonly BundledPackage[];
}

/** The install scripts a package document names, each with its command. */
function installScripts(document: Record<string, unknown>): Map<string, string> {
  const scripts =
    typeof document.scripts === 'object' && document.scripts !== null
      ? (document.scripts as Record<string, unknown>)
      : {};
  const named = new Map<string, string>();
  for (const name of INSTALL_SCRIPTS) {
    const command = scripts[name];
    if (typeof command === 'string' && command.trim() !== '') named.set(name, command);
  }
  return named;
}

/**
 * Install-time execution the tarball's scripts do not show: a root `binding.gyp` (npm runs
 * `node-gyp rebuild` for it), and registry metadata that disagrees with the tarball (npm installs
 * from the registry's document and may run the scripts it names, or read the tarball's because the
 * registry says there are some).
 */
function hiddenInstallFindings(input: HeuristicInput, manifest: Record<string, unknown>): Finding[] {
  const tarball = installScripts(manifest);
  const findings: Finding[] = [];
  if (input.bindingGyp) {
    findings.push({
      id: 'install_script:binding.gyp',
      kind: 'install_script',
      severity: 'medium',
      summary: 'has a binding.gyp at its root: npm compiles it (node-gyp rebuild) on install',
    });
  }
  const registry = input.registryManifest;
  if (registry === undefined) return findings;
  // What npm runs from the tarball: its scripts, and `node-gyp rebuild` for a binding.gyp when it
  // names no install step of its own and does not opt out with `gypfile: false` (npm publish writes
  // that script into the registry's document).
  const runs = new Map(tarball);
  if (input.bindingGyp && manifest.gypfile !== false && !runs.has('install') && !runs.has('preinstall'))
    runs.set('install', 'node-gyp rebuild');
  const claimed = installScripts(registry);
  const differ = [...new Set([...claimed.keys(), ...runs.keys()])].filter(
    (name) => claimed.get(name) !== runs.get(name),
  );
  const says = registry.hasInstallScript;
  if (differ.length > 0 || (typeof says === 'boolean' && says !== runs.size > 0)) {
    const detail =
      differ.length > 0
        ? `its install scripts (${differ.join(', ')}) differ from the tarball’s`
        : `it says hasInstallScript: ${String(says)}, the tarball has ${runs.size > 0 ? 'one' : 'none'}`;
    findings.push({
      id: 'install_script:registry_metadata',
      kind: 'install_script',
      severity: 'high',
      summary: `the registry’s document disagrees with the tarball: ${detail}`.slice(0, 2000),
    });
  }
  return findings;
}

/** At most this many bundled packages are named one by one; the rest are counted in one more finding. */
const MAX_BUNDLED_FINDINGS = 50;

/** The name a bundled package is installed under: its folder below the last `node_modules/`. */
export const bundledLabel = (bundled: BundledPackage) =>
  bundled.folder.slice(bundled.folder.lastIndexOf('node_modules/') + 'node_modules/'.length);

/**
 * Install-time execution of the packages bundled in the tarball: npm installs them from it and runs
 * their install scripts (and `node-gyp rebuild` for a binding.gyp) like any other package's, while the
 * parent's package.json shows none of it. One that cannot be read as npm reads it counts too.
 */
function bundledInstallFindings(bundled: readonly BundledPackage[]): Finding[] {
  const findings = new Map<string, Finding>();
  let more = 0;
  for (const b of bundled) {
    const runs = Object.entries(b.installScripts).map(([script, command]) => `${script}: ${command}`);
    if (b.bindingGyp && !b.noGypfile) runs.push('node-gyp rebuild (binding.gyp)');
    if (b.unreadable) runs.push(`cannot be checked: ${b.unreadable}`);
    if (runs.length === 0) continue;
    const label = bundledLabel(b);
    const id = `install_script:bundled:${label}`.slice(0, 200);
    if (findings.has(id)) continue;
    if (findings.size >= MAX_BUNDLED_FINDINGS) {
      more++;
      continue;
    }
    findings.set(id, {
      id,
      kind: 'install_script',
      severity: 'high',
      summary:
        `bundles ${label} (${b.folder}), which npm installs with it and which runs ${runs.join('; ')}`.slice(
          0,
          2000,
        ),
    });
  }
  if (more > 0) {
    findings.set('install_script:bundled:more', {
      id: 'install_script:bundled:more',
      kind: 'install_script',
      severity: 'high',
      summary: `${more} more bundled packages run something on install`,
    });
  }
  return [...findings.values()];
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
  findings.push(...hiddenInstallFindings(input, manifest));
  findings.push(...bundledInstallFindings(input.bundled ?? []));
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
