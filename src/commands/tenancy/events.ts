import { z } from 'zod';
import type { DomainEvent } from '../decider.ts';
import { PlanId } from './plans.ts';
import { TenantSlug } from './slug.ts';

export const TenantName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters');
export const TenantStatus = z.enum(['active', 'suspended', 'deleted']);
export type TenantStatus = z.infer<typeof TenantStatus>;

/** The event contract of the tenancy context: these schemas are what is stored. */
export const tenancyEventSchemas = {
  TenantCreated: z.object({
    tenantId: z.uuid(),
    slug: TenantSlug,
    name: TenantName,
    plan: PlanId,
    at: z.iso.datetime(),
  }),
  TenantRenamed: z.object({ tenantId: z.uuid(), name: TenantName, at: z.iso.datetime() }),
  TenantPlanChanged: z.object({ tenantId: z.uuid(), from: PlanId, to: PlanId, at: z.iso.datetime() }),
  TenantSuspended: z.object({ tenantId: z.uuid(), reason: z.string().max(500), at: z.iso.datetime() }),
  TenantReactivated: z.object({ tenantId: z.uuid(), at: z.iso.datetime() }),
  TenantDeleted: z.object({ tenantId: z.uuid(), at: z.iso.datetime() }),
} as const;

type Schemas = typeof tenancyEventSchemas;
export type TenancyEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type TenancyEventType = TenancyEvent['type'];
export const tenancyEventTypes = Object.keys(tenancyEventSchemas) as TenancyEventType[];

export const tenantStreamId = (tenantId: string) => `tenancy.Tenant-${tenantId}`;
