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
 * rewritten (`src/eventstore/upcasters.ts` builds the registry every reader goes through).
 */
export const eventUpcasters: readonly Upcaster[] = [
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
