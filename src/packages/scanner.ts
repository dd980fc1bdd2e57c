import type { Kysely } from 'kysely';
import { type Finding, MAX_BUNDLED_PACKAGES, type PolicySnapshot } from '../commands/packages/index.ts';
import { type AdvisoryTables, advisoryFindings, latestImport } from './advisories.ts';
import { bundledFinding, bundledSpecs } from './bundled.ts';
import { heuristicFindings } from './heuristics.ts';
import { evaluateLicense, normalizeLicense } from './license.ts';
import type { BundledPackage } from './registry/tarball.ts';

export interface ScanInput {
  name: string;
  version: string;
  /** The tarball's package.json. */
  manifest: Record<string, unknown>;
  lockfileLicense: string | null;
  /** The registry's deprecation message for this version. */
  deprecated: string | null;
  policy: PolicySnapshot;
  /** A `binding.gyp` at the tarball's root (npm builds it on install). */
  bindingGyp?: boolean;
  /** The registry's document for this version (its `scripts`, `hasInstallScript`). */
  registryManifest?: Record<string, unknown>;
  /** Packages shipped inside the tarball (`node_modules/…`): npm installs them with it. */
  bundled?: readonly BundledPackage[];
}

export interface ScanResult {
  findings: Finding[];
  /** Checks that could not run, with why: the package then waits for an approver. */
  unavailable: string[];
  /** The advisory import used, when advisories were checked. */
  advisories: string | null;
}

/**
 * A scanner port: OSV advisories and heuristics are built in; another scanner (Trivy, where its
 * binary exists) plugs in here and its findings join the others.
 */
export interface Scanner {
  readonly name: string;
  scan(input: ScanInput): Promise<ScanResult>;
}

/**
 * Advisories of the packages bundled in the tarball (npm installs them from it, never from a
 * registry), each finding's id naming the bundled package so it stays apart from the parent's own.
 * More than {@link MAX_BUNDLED_PACKAGES} are not looked up one by one: the check is then unavailable.
 */
async function bundledAdvisories(
  db: Kysely<AdvisoryTables>,
  bundled: readonly BundledPackage[],
): Promise<{ findings: Finding[]; unavailable: string[] }> {
  const specs = bundledSpecs(bundled);
  if (specs.length > MAX_BUNDLED_PACKAGES)
    return { findings: [], unavailable: [`osv: ${specs.length} bundled packages are too many to check`] };
  const findings: Finding[] = [];
  for (const spec of specs) {
    for (const finding of await advisoryFindings(db, spec.name, spec.version)) {
      findings.push(bundledFinding(finding, spec));
    }
  }
  return { findings, unavailable: [] };
}

/** Known vulnerabilities and malicious-package records from the imported OSV data, bundled packages too. */
export function osvScanner(db: Kysely<AdvisoryTables>): Scanner {
  return {
    name: 'osv',
    async scan(input) {
      const advisories = await latestImport(db);
      if (!advisories) {
        return { findings: [], unavailable: ['osv: no advisory data imported'], advisories: null };
      }
      const own = await advisoryFindings(db, input.name, input.version);
      const bundled = await bundledAdvisories(db, input.bundled ?? []);
      return { findings: [...own, ...bundled.findings], unavailable: bundled.unavailable, advisories };
    },
  };
}

/** The tarball's own license against the policy, and the heuristics (scripts, lookalikes, …). */
export function manifestScanner(): Scanner {
  return {
    name: 'manifest',
    async scan(input) {
      const findings = heuristicFindings({
        name: input.name,
        version: input.version,
        manifest: input.manifest,
        lockfileLicense: input.lockfileLicense,
        deprecated: input.deprecated,
        ...(input.bindingGyp === undefined ? {} : { bindingGyp: input.bindingGyp }),
        ...(input.registryManifest === undefined ? {} : { registryManifest: input.registryManifest }),
        ...(input.bundled === undefined ? {} : { bundled: input.bundled }),
      });
      const { expression } = normalizeLicense(input.manifest.license ?? input.manifest.licenses);
      if (expression !== null) {
        const license = evaluateLicense(expression, input.policy.licenses);
        if (license.verdict === 'denied') {
          findings.push({
            id: `license_denied:${expression}`,
            kind: 'license_denied',
            severity: 'high',
            summary: `license ${expression} is denied by the policy: ${license.reason}`,
          });
        } else if (license.verdict === 'unknown') {
          findings.push({
            id: 'license_unknown',
            kind: 'license_unknown',
            severity: 'medium',
            summary: `license ${expression} cannot be evaluated: ${license.reason}`,
          });
        }
      }
      return { findings, unavailable: [], advisories: null };
    },
  };
}

/** Runs every scanner; one that fails makes its check unavailable (fail closed), never skipped. */
export function combinedScanner(scanners: readonly Scanner[]): Scanner {
  return {
    name: scanners.map((s) => s.name).join('+'),
    async scan(input) {
      const results = await Promise.allSettled(scanners.map((s) => s.scan(input)));
      const findings = new Map<string, Finding>();
      const unavailable: string[] = [];
      let advisories: string | null = null;
      results.forEach((result, i) => {
        if (result.status === 'rejected') {
          const reason = result.reason instanceof Error ? result.reason.message : String(result.reason);
          unavailable.push(`${scanners[i]!.name}: ${reason}`.slice(0, 200));
          return;
        }
        for (const finding of result.value.findings) findings.set(finding.id, finding);
        unavailable.push(...result.value.unavailable);
        advisories ??= result.value.advisories;
      });
      return {
        findings: [...findings.values()].sort((a, b) => a.id.localeCompare(b.id)),
        unavailable,
        advisories,
      };
    },
  };
}
