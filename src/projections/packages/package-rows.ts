import { type Finding, type PackageEvent, severities } from '../../commands/packages/index.ts';
import type { Recorded } from '../engine/index.ts';

/* The package list's row, and what each event makes of it (pure: no database). */

export interface PackageListTable {
  id: string;
  tenant_id: string;
  spec: string;
  name: string;
  version: string;
  status: string;
  /** The license that counts: the tarball's once downloaded, the lockfile's before. */
  license: string | null;
  lockfile_license: string | null;
  integrity: string | null;
  size: number | null;
  findings: unknown;
  findings_count: number;
  max_severity: string | null;
  reasons: string[];
  warnings: string[];
  waivers: unknown;
  /** New findings after it was let in (continuous monitoring): approvers look here. */
  attention: boolean;
  decided_by: string | null;
  reason: string | null;
  policy_version: number | null;
  failure: unknown;
  request_id: string;
  received_at: Date;
  processing_at: Date | null;
  downloaded_at: Date | null;
  scanned_at: Date | null;
  decided_at: Date | null;
  published_at: Date | null;
  updated_at: Date;
  revision: number;
  position: string;
}

/**
 * A package shipped inside a package's tarball, as its latest scan recorded it: the advisory monitor
 * finds the packages to re-check here when advisories about the bundled name change.
 */
export interface PackageBundledTable {
  tenant_id: string;
  package_id: string;
  name: string;
  version: string;
}

export type PackageListTables = { package_list: PackageListTable; package_bundled: PackageBundledTable };

const worst = (findings: readonly Finding[]): string | null => {
  let index: number = severities.length;
  for (const f of findings) index = Math.min(index, severities.indexOf(f.severity));
  return (severities as readonly string[])[index] ?? null;
};

const json = (value: unknown) => JSON.stringify(value);
export const parse = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

export type Changes = Partial<Record<keyof PackageListTable, unknown>>;
/** What a package's later events need of its row. */
export interface Current {
  findings: unknown;
  waivers: unknown;
  revision: number;
  status: string;
}

/** The row a package starts with. */
export function receivedRow(event: Recorded<Extract<PackageEvent, { type: 'PackageReceived' }>>) {
  const common = { revision: event.revision, position: event.position.toString() };
  const d = event.data;
  const when = new Date(d.at);
  return {
    id: d.packageId,
    tenant_id: d.tenantId,
    spec: d.spec,
    name: d.name,
    version: d.version,
    status: 'received',
    license: d.lockfileLicense,
    lockfile_license: d.lockfileLicense,
    integrity: d.integrity,
    size: null,
    findings: json([]),
    findings_count: 0,
    max_severity: null,
    reasons: [],
    warnings: [],
    waivers: json({}),
    attention: false,
    decided_by: null,
    reason: null,
    policy_version: null,
    failure: null,
    request_id: d.requestId,
    received_at: when,
    processing_at: null,
    downloaded_at: null,
    scanned_at: null,
    decided_at: null,
    published_at: null,
    updated_at: when,
    ...common,
  };
}

/** The columns an event changes on the package's row, given the row as earlier events left it. */
export function changesOf(event: PackageEvent, current: Current, when: Date): Changes {
  const changes: Changes = {};
  switch (event.type) {
    case 'PackageRequestLinked':
      break;
    case 'PackageProcessingStarted':
      Object.assign(changes, { status: 'license_check', processing_at: when, failure: null });
      break;
    case 'LicenseChecked':
      Object.assign(changes, { status: 'downloading' });
      break;
    case 'PackageDownloaded':
      Object.assign(changes, {
        status: 'scanning',
        integrity: event.data.integrity,
        size: event.data.size,
        license: event.data.manifestLicense,
        downloaded_at: when,
      });
      break;
    case 'PackageScanned':
      Object.assign(changes, {
        findings: json(event.data.findings),
        findings_count: event.data.findings.length,
        max_severity: worst(event.data.findings),
        scanned_at: when,
      });
      break;
    case 'ApprovalRequired':
      Object.assign(changes, {
        status: 'awaiting_approval',
        reasons: event.data.reasons,
        policy_version: event.data.policyVersion,
      });
      break;
    case 'PackageAutoApproved':
      Object.assign(changes, {
        status: 'approved',
        reasons: [],
        warnings: event.data.warnings,
        decided_by: 'policy',
        reason: 'no blocking findings',
        policy_version: event.data.policyVersion,
        decided_at: when,
      });
      break;
    case 'PackageApproved':
      Object.assign(changes, {
        status: 'approved',
        decided_by: event.data.by,
        reason: event.data.reason,
        policy_version: event.data.policyVersion,
        decided_at: when,
      });
      break;
    case 'PackageRejected':
      Object.assign(changes, {
        status: 'rejected',
        decided_by: event.data.by,
        reason: event.data.reason,
        policy_version: event.data.policyVersion,
        failure: json({ stage: event.data.stage, code: event.data.code }),
        decided_at: when,
      });
      break;
    case 'FindingWaived': {
      const waivers = parse<Record<string, unknown>>(current.waivers);
      waivers[event.data.findingId] = {
        expires_at: event.data.expiresAt,
        by: event.data.by,
        reason: event.data.reason,
      };
      Object.assign(changes, { waivers: json(waivers) });
      break;
    }
    case 'FindingDiscovered': {
      const findings = [...parse<Finding[]>(current.findings), event.data.finding];
      Object.assign(changes, {
        findings: json(findings),
        findings_count: findings.length,
        max_severity: worst(findings),
        attention: ['approved', 'publishing', 'published'].includes(current.status),
      });
      break;
    }
    case 'PackagePublishing':
      Object.assign(changes, { status: 'publishing' });
      break;
    case 'PackagePublished':
      Object.assign(changes, { status: 'published', published_at: when });
      break;
    case 'PackageFailed':
      Object.assign(changes, {
        status: 'failed',
        reason: event.data.reason,
        failure: json({
          stage: event.data.stage,
          code: event.data.code,
          retryable: event.data.retryable,
          attempts: event.data.attempts,
        }),
      });
      break;
    case 'PackageRetried':
      Object.assign(changes, { status: event.data.resume, failure: null, reason: null, reasons: [] });
      break;
  }
  return changes;
}
