import semver from 'semver';
import type { BundledSpec, Finding } from '../commands/packages/index.ts';
import { bundledLabel } from './heuristics.ts';
import type { BundledPackage } from './registry/tarball.ts';

/**
 * The distinct packages bundled in a tarball that advisories can be looked up for: named (by their
 * package.json, or else the folder npm installs them in) as an npm name can be, at a valid semver
 * version (normalised, as ranges match it), in `name@version` order.
 */
export function bundledSpecs(bundled: readonly BundledPackage[]): BundledSpec[] {
  const specs = new Map<string, BundledSpec>();
  for (const b of bundled) {
    const name = b.name ?? bundledLabel(b);
    const version = b.version === null ? null : semver.valid(b.version);
    if (version !== null && name.length > 0 && name.length <= 214)
      specs.set(`${name}@${version}`, { name, version });
  }
  return [...specs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, spec]) => spec);
}

/**
 * An advisory's finding about a bundled package, as its parent carries it: the id names the bundled
 * package (`<advisory>:bundled:<name>@<version>`) so it stays apart from the parent's own findings,
 * and a scan and the advisory monitor give the same finding the same id (recorded once).
 */
export function bundledFinding(finding: Finding, bundled: BundledSpec): Finding {
  const spec = `${bundled.name}@${bundled.version}`;
  return {
    ...finding,
    id: `${finding.id}:bundled:${spec}`.slice(0, 200),
    summary: `bundled ${spec}: ${finding.summary}`.slice(0, 2000),
  };
}
