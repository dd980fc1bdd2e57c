import type { PackageEvent, PackageStatus, Stage } from './events.ts';
import type { Finding } from './findings.ts';

/* A package's state and how its events fold into it (the `evolve` of the package decider). */

/** What a download recorded: the bytes' digests and sizes, the tarball's license, the registry's deprecation. */
export interface DownloadRecord {
  integrity: string;
  shasum: string;
  size: number;
  unpackedSize: number;
  manifestLicense: string | null;
  deprecated: string | null;
}

export interface PackageState {
  exists: boolean;
  packageId: string;
  tenantId: string;
  spec: string;
  name: string;
  version: string;
  status: PackageStatus;
  /** What the first lockfile said (SRI), checked against the downloaded bytes. */
  lockfileIntegrity: string | null;
  lockfileLicense: string | null;
  /** The request that brought it in first. */
  requestId: string;
  attempts: number;
  publishAttempts: number;
  license: { expression: string | null; verdict: string; reason: string } | null;
  download: DownloadRecord | null;
  findings: Finding[];
  advisories: string | null;
  unavailable: string[];
  waivers: Record<string, { expiresAt: string; by: string; reason: string }>;
  /** Why it waits (finding ids, `scan_unavailable`, `approval_required`). */
  reasons: string[];
  warnings: string[];
  decision: { by: string; reason: string; policyVersion: number | null; at: string } | null;
  /** Why it was rejected (`manual`, `integrity_mismatch`, …), while it is; null otherwise. */
  rejectedFor: string | null;
  failure: { stage: Stage; code: string; reason: string; retryable: boolean } | null;
  published: { registry: string; outcome: string; at: string } | null;
  receivedAt: string;
  updatedAt: string;
}

export const initialState = (): PackageState => ({
  exists: false,
  packageId: '',
  tenantId: '',
  spec: '',
  name: '',
  version: '',
  status: 'received',
  lockfileIntegrity: null,
  lockfileLicense: null,
  requestId: '',
  attempts: 0,
  publishAttempts: 0,
  license: null,
  download: null,
  findings: [],
  advisories: null,
  unavailable: [],
  waivers: {},
  reasons: [],
  warnings: [],
  decision: null,
  rejectedFor: null,
  failure: null,
  published: null,
  receivedAt: '',
  updatedAt: '',
});

/** Folds one event into the package's state. */
export function evolve(state: PackageState, event: PackageEvent): PackageState {
  const next = { ...state, updatedAt: event.data.at };
  switch (event.type) {
    case 'PackageReceived': {
      const d = event.data;
      return {
        ...next,
        exists: true,
        packageId: d.packageId,
        tenantId: d.tenantId,
        spec: d.spec,
        name: d.name,
        version: d.version,
        status: 'received',
        lockfileIntegrity: d.integrity,
        lockfileLicense: d.lockfileLicense,
        requestId: d.requestId,
        receivedAt: d.at,
      };
    }
    case 'PackageRequestLinked':
      return next;
    case 'PackageProcessingStarted':
      return { ...next, status: 'license_check', attempts: event.data.attempt };
    case 'LicenseChecked':
      return {
        ...next,
        status: 'downloading',
        license: {
          expression: event.data.expression,
          verdict: event.data.verdict,
          reason: event.data.reason,
        },
      };
    case 'PackageDownloaded': {
      const { integrity, shasum, size, unpackedSize, manifestLicense, deprecated } = event.data;
      return {
        ...next,
        status: 'scanning',
        download: { integrity, shasum, size, unpackedSize, manifestLicense, deprecated },
      };
    }
    case 'PackageScanned':
      return {
        ...next,
        findings: event.data.findings,
        advisories: event.data.advisories,
        unavailable: event.data.unavailable,
      };
    case 'ApprovalRequired':
      return { ...next, status: 'awaiting_approval', reasons: event.data.reasons };
    case 'PackageAutoApproved':
      return {
        ...next,
        status: 'approved',
        reasons: [],
        warnings: event.data.warnings,
        decision: {
          by: 'policy',
          reason: 'no blocking findings',
          policyVersion: event.data.policyVersion,
          at: event.data.at,
        },
      };
    case 'PackageApproved':
      return {
        ...next,
        status: 'approved',
        decision: {
          by: event.data.by,
          reason: event.data.reason,
          policyVersion: event.data.policyVersion,
          at: event.data.at,
        },
      };
    case 'PackageRejected':
      return {
        ...next,
        status: 'rejected',
        decision: {
          by: event.data.by,
          reason: event.data.reason,
          policyVersion: event.data.policyVersion,
          at: event.data.at,
        },
        failure: null,
        rejectedFor: event.data.code,
      };
    case 'FindingWaived':
      return {
        ...next,
        waivers: {
          ...state.waivers,
          [event.data.findingId]: {
            expiresAt: event.data.expiresAt,
            by: event.data.by,
            reason: event.data.reason,
          },
        },
      };
    case 'FindingDiscovered':
      return { ...next, findings: [...state.findings, event.data.finding] };
    case 'PackagePublishing':
      return { ...next, status: 'publishing', publishAttempts: event.data.attempt };
    case 'PackagePublished':
      return {
        ...next,
        status: 'published',
        published: { registry: event.data.registry, outcome: event.data.outcome, at: event.data.at },
      };
    case 'PackageFailed':
      return {
        ...next,
        status: 'failed',
        failure: {
          stage: event.data.stage,
          code: event.data.code,
          reason: event.data.reason,
          retryable: event.data.retryable,
        },
      };
    case 'PackageRetried':
      return {
        ...next,
        status: event.data.resume,
        failure: null,
        reasons: [],
        rejectedFor: null,
        // Retried for another lockfile's integrity (see `RetryWithIntegrity`): checked against that now.
        lockfileIntegrity: event.data.integrity ?? state.lockfileIntegrity,
      };
  }
}
