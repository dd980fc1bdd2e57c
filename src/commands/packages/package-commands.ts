import type { BundledSpec, PolicySnapshot, Stage } from './events.ts';
import type { Finding } from './findings.ts';
import type { DownloadRecord } from './package-state.ts';

/** What can be asked of a package: the pipeline's stages, approvers' decisions, monitoring, retries. */
export type PackageCommand =
  | {
      type: 'ReceivePackage';
      packageId: string;
      tenantId: string;
      name: string;
      version: string;
      integrity: string | null;
      lockfileLicense: string | null;
      requestId: string;
      at: string;
    }
  | { type: 'StartProcessing'; at: string }
  | {
      type: 'RecordLicense';
      expression: string | null;
      verdict: 'allowed' | 'denied' | 'unknown' | 'missing';
      reason: string;
      policy: PolicySnapshot;
      at: string;
    }
  | ({ type: 'RecordDownload'; at: string } & DownloadRecord)
  | {
      type: 'RecordScan';
      findings: Finding[];
      advisories: string | null;
      unavailable: string[];
      /** The tarball's bundled packages, in `name@version` order (the first `MAX_BUNDLED_PACKAGES` are kept). */
      bundled?: BundledSpec[];
      policy: PolicySnapshot;
      at: string;
    }
  | { type: 'Approve'; by: string; reason: string; policy: PolicySnapshot; at: string }
  | { type: 'Reject'; by: string; reason: string; policy: PolicySnapshot | null; at: string }
  /** The pipeline's refusal: tampering, a denied license found late, … */
  | {
      type: 'RejectAutomatically';
      stage: Stage;
      code: string;
      reason: string;
      policy: PolicySnapshot | null;
      at: string;
    }
  | {
      type: 'Waive';
      findingId: string;
      by: string;
      reason: string;
      expiresAt: string;
      policy: PolicySnapshot;
      at: string;
    }
  | { type: 'RecordFinding'; finding: Finding; advisories: string; at: string }
  | { type: 'StartPublishing'; at: string }
  | {
      type: 'RecordPublished';
      registry: string;
      integrity: string;
      outcome: 'published' | 'already_present';
      at: string;
    }
  | {
      type: 'Fail';
      stage: Stage;
      code: string;
      reason: string;
      retryable: boolean;
      attempts: number;
      at: string;
    }
  | { type: 'Retry'; by: string; at: string }
  /**
   * Another request names the package with a different lockfile integrity. A package rejected
   * because its bytes were not what the first lockfile said is checked again against this one: one
   * member's wrong lockfile cannot refuse a package to the whole tenant. Anything else: nothing.
   */
  | { type: 'RetryWithIntegrity'; integrity: string; by: string; at: string };
