import type { StoredEvent } from '../kernel/index.ts';

/**
 * Turns the `data` of one event type from schema version `from` into version `from + 1`. Pure: what
 * the old version lacked comes from the event itself (its data, metadata or recorded time).
 */
export interface Upcaster {
  type: string;
  from: number;
  upcast(data: unknown, event: Readonly<StoredEvent>): unknown;
}

/**
 * Every upcaster of Warden's events, oldest first per type. When an event's shape changes, its zod
 * schema becomes version n + 1 and one pure upcaster from n goes here; stored events are never
 * rewritten (`src/eventstore/upcasters.ts` builds the registry every reader goes through). Every type
 * without an upcaster here is at version 1.
 */
export const eventUpcasters: readonly Upcaster[] = [
  {
    // Version 1 claims were never proven: they become pending claims whose token is the event's own id
    // (random, one per claim), so the holder proves the domain like any new claim before it serves again.
    type: 'TenantDomainAdded',
    from: 1,
    upcast: (data, event) => ({ verificationToken: event.id, ...(data as Record<string, unknown>) }),
  },
  /**
   * Users registered before email claims: their id was derived from (tenant, email), keyed or the
   * older unkeyed v5, and no claim stream exists for them. `emailClaimId: null` says so; sign-in and
   * registration still find them under those derived ids, so they keep their accounts and ids.
   */
  {
    type: 'UserRegistered',
    from: 1,
    upcast: (data) => ({ ...(data as Record<string, unknown>), emailClaimId: null }),
  },
  /** Removals before the reason was recorded were all made by someone (a lead or an admin). */
  {
    type: 'ProjectMemberRemoved',
    from: 1,
    upcast: (data) => ({ ...(data as Record<string, unknown>), reason: 'manual' }),
  },
];
