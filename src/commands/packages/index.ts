export {
  ADVISORY_FEED_STREAM,
  type AdvisoryFeedEvent,
  BundledSpec,
  type LockedEntry,
  MAX_BUNDLED_PACKAGES,
  type PackageEvent,
  PackageStatus,
  type PackagesEvent,
  PolicyBody,
  type PolicySnapshot,
  packageEventSchemas,
  packageEventTypes,
  packageStatuses,
  packageStreamId,
  packagesEventTypes,
  policyStreamId,
  requestQuotaStreamId,
  requestStreamId,
  Stage,
} from './events.ts';
export { atLeast, Finding, FindingKind, findingKinds, Severity, severities } from './findings.ts';
export {
  changePackage,
  findPackage,
  loadPolicy,
  packageIdFor,
  packageRequestsInMonth,
  setPolicy,
  submitRequest,
} from './handle.ts';
export { type PackageCommand, type PackageState, packageDecider } from './package.ts';
export {
  defaultPolicy,
  evaluate,
  type PolicyState,
  policyDecider,
  snapshotOf,
  type Verdict,
} from './policy.ts';
export { type RequestState, requestDecider } from './request.ts';
export { decideRequest, type PackageOutcome, type RequestDecision } from './request-decision.ts';
export { monthOf, requestQuotaDecider } from './request-quota.ts';
