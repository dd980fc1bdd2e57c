export { changeTenantDomain, domainDecider } from './domains.ts';
export {
  DomainName,
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
export { createTenant, tenantIdForSlug, updateTenant } from './handle.ts';
export { type Plan, PlanId, planIds, plans } from './plans.ts';
export { reservedSlugs, TenantSlug } from './slug.ts';
export { type TenantCommand, type TenantState, tenantDecider } from './tenant.ts';
