import { z } from 'zod';
import type { DomainEvent } from '../kernel/index.ts';
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

/** Hostnames a tenant serves on: lowercase labels of letters, digits and hyphens, at least two labels. */
export const DomainName = z
  .string()
  .trim()
  .toLowerCase()
  .max(253, 'must be at most 253 characters')
  .regex(
    /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be a hostname such as packages.example.com',
  );

/**
 * Custom domains live in a stream per domain (not in the tenant's stream), so "a domain belongs to one
 * tenant" is decided by one stream's expected revision, even when two tenants claim it at once.
 * They are kept apart from `tenancyEventSchemas` so the tenant list never sees a domain's revisions.
 */
export const tenantDomainEventSchemas = {
  TenantDomainAdded: z.object({ tenantId: z.uuid(), domain: DomainName, at: z.iso.datetime() }),
  TenantDomainRemoved: z.object({ tenantId: z.uuid(), domain: DomainName, at: z.iso.datetime() }),
} as const;

type DomainSchemas = typeof tenantDomainEventSchemas;
export type TenantDomainEvent = {
  [K in keyof DomainSchemas]: DomainEvent<K, z.infer<DomainSchemas[K]>>;
}[keyof DomainSchemas];
export const tenantDomainEventTypes = Object.keys(tenantDomainEventSchemas) as TenantDomainEvent['type'][];
