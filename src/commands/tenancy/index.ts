export {
  changeTenantDomain,
  type DomainState,
  domainDecider,
  findTenantDomain,
  type ReservedHosts,
  reservedHostReason,
} from './domains.ts';
export {
  challengeRecordName,
  DomainName,
  normalizeHostName,
  type TenancyEvent,
  type TenancyEventType,
  type TenantDomainEvent,
  TenantName,
  TenantStatus,
  tenancyEventSchemas,
  tenancyEventTypes,
  tenantDomainEventTypes,
  tenantStreamId,
} from './events.ts';
export { createTenant, tenantIdForSlug, tenantLimits, tenantStatus, updateTenant } from './handle.ts';
export {
  effectiveLimits,
  type LimitName,
  LimitOverrides,
  type Limits,
  limitNames,
} from './limits.ts';
export { type Plan, PlanId, planIds, plans } from './plans.ts';
export type { DomainOwnershipResolver } from './ports.ts';
export { reservedSlugs, TenantSlug } from './slug.ts';
export { SIGNUP_AWAITING_APPROVAL, type TenantCommand, type TenantState, tenantDecider } from './tenant.ts';
