import { z } from 'zod';
import type { DomainEvent } from '../kernel/index.ts';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../kernel/index.ts';
import { LimitOverrides } from './limits.ts';
import { PlanId } from './plans.ts';
import { TenantSlug } from './slug.ts';

export const TenantName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .refine(isStorableText, STORABLE_TEXT_MESSAGE);
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
  /** The platform superadmin set the tenant's own limits over its plan's (the whole set: `{}` clears them). */
  TenantLimitsOverridden: z.object({
    tenantId: z.uuid(),
    limits: LimitOverrides,
    by: z.string().min(1).max(200),
    at: z.iso.datetime(),
  }),
} as const;

type Schemas = typeof tenancyEventSchemas;
export type TenancyEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type TenancyEventType = TenancyEvent['type'];
export const tenancyEventTypes = Object.keys(tenancyEventSchemas) as TenancyEventType[];

export const tenantStreamId = (tenantId: string) => `tenancy.Tenant-${tenantId}`;

/**
 * A host name as Warden compares it: trimmed, lowercased, without the trailing dot of a fully
 * qualified name, and internationalised names in their ASCII (IDNA) form, so `ACME.Example.` and
 * `acme.example` are one name. Anything with characters a host name cannot have is left for the
 * hostname rule to refuse (URL parsing would otherwise read `evil.example@acme.example` as a host).
 */
export function normalizeHostName(name: string): string {
  const bare = name.trim().toLowerCase().replace(/\.$/, '');
  if (!/^[\p{L}\p{N}\p{M}.-]+$/u.test(bare) || /^[a-z0-9.-]+$/.test(bare)) return bare;
  try {
    return new URL(`http://${bare}`).hostname;
  } catch {
    return bare;
  }
}

/** Hostnames a tenant serves on: lowercase labels of letters, digits and hyphens, at least two labels. */
export const DomainName = z
  .string()
  .overwrite(normalizeHostName)
  .max(253, 'must be at most 253 characters')
  .regex(
    /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be a hostname such as packages.example.com',
  );

/**
 * The secret a tenant publishes as the TXT record `_warden-challenge.<domain>` to prove it controls the
 * domain. Random per claim (a new claim, by this tenant or another, gets a new one), so a record left
 * behind by an earlier holder proves nothing.
 */
export const VerificationToken = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'must be a verification token');

/** The DNS name whose TXT record proves a tenant controls `domain`. */
export const challengeRecordName = (domain: string) => `_warden-challenge.${domain}`;

/**
 * Custom domains live in a stream per domain (not in the tenant's stream), so "a domain belongs to one
 * tenant" is decided by one stream's expected revision, even when two tenants claim it at once.
 * They are kept apart from `tenancyEventSchemas` so the tenant list never sees a domain's revisions.
 *
 * `TenantDomainAdded` is at schema version 2: version 1 had no `verificationToken` (its upcaster gives
 * such a claim the event's own id as its token, so it stays pending until its TXT record is there).
 */
export const tenantDomainEventSchemas = {
  TenantDomainAdded: z.object({
    tenantId: z.uuid(),
    domain: DomainName,
    verificationToken: VerificationToken,
    at: z.iso.datetime(),
  }),
  /** The TXT record held the claim's token: from now on the domain serves the tenant. */
  TenantDomainVerified: z.object({ tenantId: z.uuid(), domain: DomainName, at: z.iso.datetime() }),
  TenantDomainRemoved: z.object({ tenantId: z.uuid(), domain: DomainName, at: z.iso.datetime() }),
} as const;

type DomainSchemas = typeof tenantDomainEventSchemas;
export type TenantDomainEvent = {
  [K in keyof DomainSchemas]: DomainEvent<K, z.infer<DomainSchemas[K]>>;
}[keyof DomainSchemas];
export const tenantDomainEventTypes = Object.keys(tenantDomainEventSchemas) as TenantDomainEvent['type'][];
