import { z } from 'zod';
import type { DomainEvent } from '../kernel/index.ts';
import { Finding, Severity } from './findings.ts';

/** A package's status, in pipeline order; `rejected` and `failed` end it early. */
export const packageStatuses = [
  'received',
  'license_check',
  'downloading',
  'scanning',
  'awaiting_approval',
  'approved',
  'publishing',
  'published',
  'rejected',
  'failed',
] as const;
export const PackageStatus = z.enum(packageStatuses);
export type PackageStatus = z.infer<typeof PackageStatus>;

/** Pipeline stages a failure or a rejection names. */
export const Stage = z.enum(['lockfile', 'license', 'download', 'scan', 'approval', 'publish']);
export type Stage = z.infer<typeof Stage>;

const at = z.iso.datetime();
/** Who did it: a user id, or `process:<name>` / `policy` for automatic decisions. */
const by = z.string().min(1).max(200);
const spec = z.string().min(3).max(500);
const pkg = { packageId: z.uuid(), tenantId: z.uuid(), spec };
const integrity = z.string().max(2000);

export const HeuristicRule = z.enum(['block', 'warn', 'off']);
export type HeuristicRule = z.infer<typeof HeuristicRule>;

/** A tenant's package policy. Version 0 is the default every tenant starts with. */
export const PolicyBody = z.object({
  /** `warn`: findings are recorded, nothing is blocked. `enforce`: the rules below hold. */
  mode: z.enum(['enforce', 'warn']),
  licenses: z.object({
    /** Empty: every license not denied is allowed. */
    allow: z.array(z.string().min(1).max(100)).max(500),
    deny: z.array(z.string().min(1).max(100)).max(500),
    /** A license that is not SPDX (`SEE LICENSE IN …`, unknown ids) or missing waits for an approver or passes. */
    unknown: z.enum(['block', 'allow']),
  }),
  vulnerabilities: z.object({
    /** Lowest severity that blocks; `none`: vulnerabilities never block (malicious packages always do). */
    block: z.union([Severity.exclude(['info']), z.literal('none')]),
  }),
  heuristics: z.object({
    install_script: HeuristicRule,
    typosquat: HeuristicRule,
    missing_license: HeuristicRule,
    license_mismatch: HeuristicRule,
    deprecated: HeuristicRule,
  }),
  /** A package with no blocking finding is approved without an approver. */
  auto_approve_clean: z.boolean(),
});
export type PolicyBody = z.infer<typeof PolicyBody>;

/** A policy as a decision sees it: the body and the version it was at. */
export type PolicySnapshot = PolicyBody & { version: number };

const LockedEntry = z.object({
  spec,
  name: z.string().min(1).max(214),
  version: z.string().min(1).max(256),
  integrity: integrity.nullable(),
  license: z.string().max(500).nullable(),
  dev: z.boolean(),
  optional: z.boolean(),
  peer: z.boolean(),
  bundled: z.boolean(),
  aliases: z.array(z.string().max(214)).max(100),
});
export type LockedEntry = z.infer<typeof LockedEntry>;

/** A package shipped inside a tarball (`bundledDependencies`), as advisories are looked up for it. */
export const BundledSpec = z.object({
  name: z.string().min(1).max(214),
  /** Valid semver (ranges can only match such a version). */
  version: z.string().min(1).max(256),
});
export type BundledSpec = z.infer<typeof BundledSpec>;

/**
 * More distinct bundled packages than this are not looked up one by one: the scan's advisory check
 * of bundled packages is then unavailable (an approver decides), and a scan records the first this
 * many (in `name@version` order) for monitoring to re-check.
 */
export const MAX_BUNDLED_PACKAGES = 1000;

const RejectedEntry = z.object({
  path: z.string().max(5000),
  name: z.string().max(214).optional(),
  source: z.string().max(2000),
  reason: z.literal('unsupported_source'),
});

export const packageEventSchemas = {
  /** A lockfile was submitted: the packages it names, and the entries Warden will not fetch. */
  PackageRequestSubmitted: z.object({
    requestId: z.uuid(),
    tenantId: z.uuid(),
    by,
    /** Absent on requests from before pnpm and Yarn lockfiles were accepted: those are package-locks. */
    lockfileFormat: z.enum(['package-lock', 'pnpm-lock', 'yarn-classic', 'yarn-berry']).optional(),
    /** The format's own version: npm 1–3, pnpm 6–9, Yarn v1 1, Berry its `__metadata.version`. */
    lockfileVersion: z.number().int().min(1).max(99),
    project: z.string().max(214).nullable(),
    packages: z.array(LockedEntry),
    rejected: z.array(RejectedEntry),
    at,
  }),

  PackageReceived: z.object({
    ...pkg,
    name: z.string(),
    version: z.string(),
    /** The lockfile's integrity (SRI); null when it named none (old v1 lockfiles). */
    integrity: integrity.nullable(),
    lockfileLicense: z.string().max(500).nullable(),
    requestId: z.uuid(),
    at,
  }),
  /** Another request names a package Warden already knows: it is not processed again. */
  PackageRequestLinked: z.object({ ...pkg, requestId: z.uuid(), at }),
  PackageProcessingStarted: z.object({ ...pkg, attempt: z.number().int().min(1), at }),
  LicenseChecked: z.object({
    ...pkg,
    expression: z.string().max(500).nullable(),
    source: z.enum(['lockfile', 'manifest']),
    verdict: z.enum(['allowed', 'denied', 'unknown', 'missing']),
    reason: z.string().max(1000),
    policyVersion: z.number().int().min(0),
    at,
  }),
  PackageDownloaded: z.object({
    ...pkg,
    /** sha512 SRI of the bytes, the key of the stored tarball. */
    integrity,
    shasum: z.string().max(100),
    size: z.number().int().min(0),
    unpackedSize: z.number().int().min(0),
    /** The license in the tarball's package.json (normalised), which the scan compares with the lockfile's. */
    manifestLicense: z.string().max(500).nullable(),
    /** The registry's deprecation message for this version, if any. */
    deprecated: z.string().max(2000).nullable(),
    at,
  }),
  PackageScanned: z.object({
    ...pkg,
    findings: z.array(Finding),
    /** The advisory import the scan used; null when there was none. */
    advisories: z.string().max(100).nullable(),
    /** Checks that could not run: the package then waits for an approver (fail closed). */
    unavailable: z.array(z.string().max(200)),
    /**
     * The packages bundled in the tarball, which monitoring re-checks when advisories change (see
     * {@link MAX_BUNDLED_PACKAGES}). Absent on scans from before it was recorded: unknown, not none.
     */
    bundled: z.array(BundledSpec).max(MAX_BUNDLED_PACKAGES).optional(),
    at,
  }),
  ApprovalRequired: z.object({
    ...pkg,
    /** Finding ids that block under the policy (or `scan_unavailable`, `approval_required`). */
    reasons: z.array(z.string().max(200)),
    policyVersion: z.number().int().min(0),
    at,
  }),
  PackageAutoApproved: z.object({
    ...pkg,
    policyVersion: z.number().int().min(0),
    /** Findings recorded but not blocking (warn rules, warn mode, waivers). */
    warnings: z.array(z.string().max(200)),
    at,
  }),
  PackageApproved: z.object({
    ...pkg,
    by,
    reason: z.string().max(2000),
    policyVersion: z.number().int().min(0),
    at,
  }),
  PackageRejected: z.object({
    ...pkg,
    by,
    stage: Stage,
    /** `manual`, `license_denied`, `integrity_mismatch`, `malicious`, … */
    code: z.string().max(100),
    reason: z.string().max(2000),
    policyVersion: z.number().int().min(0).nullable(),
    at,
  }),
  FindingWaived: z.object({
    ...pkg,
    findingId: z.string().max(200),
    by,
    reason: z.string().max(2000),
    expiresAt: at,
    at,
  }),
  /** New advisory data affects a package already let in (continuous monitoring). */
  FindingDiscovered: z.object({ ...pkg, finding: Finding, advisories: z.string().max(100), at }),
  PackagePublishing: z.object({ ...pkg, attempt: z.number().int().min(1), at }),
  PackagePublished: z.object({
    ...pkg,
    /** The target registry's address (never its credentials). */
    registry: z.string().max(2000),
    integrity,
    /** `already_present`: a previous attempt had uploaded it (e.g. a worker died before recording). */
    outcome: z.enum(['published', 'already_present']),
    at,
  }),
  PackageFailed: z.object({
    ...pkg,
    stage: Stage,
    code: z.string().max(100),
    reason: z.string().max(2000),
    retryable: z.boolean(),
    attempts: z.number().int().min(1),
    at,
  }),
  /** Back into the pipeline: from the start (a new scan), or to publishing when that is what failed. */
  PackageRetried: z.object({
    ...pkg,
    by,
    resume: z.enum(['received', 'approved']),
    /** Retried for another request's lockfile integrity, which the bytes are checked against from now. */
    integrity: z.string().max(200).optional(),
    at,
  }),

  /**
   * A request took one of the month's package requests the tenant's limits allow. One stream per
   * (tenant, month), appended with the expected revision: concurrent requests cannot both take the last.
   */
  PackageRequestCounted: z.object({
    tenantId: z.uuid(),
    month: z.string().regex(/^\d{4}-\d{2}$/),
    requestId: z.uuid(),
    /** The limit it was counted against (null: unlimited). */
    limit: z.number().int().min(0).nullable(),
    at,
  }),

  PackagePolicySet: z.object({
    tenantId: z.uuid(),
    version: z.number().int().min(1),
    policy: PolicyBody,
    by,
    at,
  }),

  /** OSV data imported (`warden osv import`): the advisories it changed carry this import's id. */
  AdvisoriesImported: z.object({
    importId: z.string().min(1).max(100),
    source: z.string().max(2000),
    total: z.number().int().min(0),
    changed: z.number().int().min(0),
    withdrawn: z.number().int().min(0),
    errors: z.number().int().min(0),
    at,
  }),
} as const;

type Schemas = typeof packageEventSchemas;
export type PackagesEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type PackagesEventType = PackagesEvent['type'];
export const packagesEventTypes = Object.keys(packageEventSchemas) as PackagesEventType[];

export type RequestEvent = Extract<PackagesEvent, { type: 'PackageRequestSubmitted' }>;
export type PolicyEvent = Extract<PackagesEvent, { type: 'PackagePolicySet' }>;
export type AdvisoryFeedEvent = Extract<PackagesEvent, { type: 'AdvisoriesImported' }>;
export type RequestQuotaEvent = Extract<PackagesEvent, { type: 'PackageRequestCounted' }>;
export type PackageEvent = Exclude<
  PackagesEvent,
  RequestEvent | PolicyEvent | AdvisoryFeedEvent | RequestQuotaEvent
>;
export const packageEventTypes = packagesEventTypes.filter(
  (t) =>
    !['PackageRequestSubmitted', 'PackagePolicySet', 'AdvisoriesImported', 'PackageRequestCounted'].includes(
      t,
    ),
) as PackageEvent['type'][];

export const packageStreamId = (packageId: string) => `packages.Package-${packageId}`;
export const requestStreamId = (requestId: string) => `packages.Request-${requestId}`;
export const policyStreamId = (tenantId: string) => `packages.Policy-${tenantId}`;
export const ADVISORY_FEED_STREAM = 'packages.AdvisoryFeed-osv';
/** The month's package-request counter of a tenant (`month`: `YYYY-MM`, UTC). */
export const requestQuotaStreamId = (tenantId: string, month: string) =>
  `packages.RequestQuota-${tenantId}-${month}`;
