import { type Upcaster, type UpcasterRegistry, upcasterRegistry } from '../../eventstore/upcasting.ts';

/**
 * Every upcaster of Warden's events, oldest first per type. When an event's shape changes, its zod
 * schema becomes version n + 1 and one pure upcaster from n goes here; stored events are never
 * rewritten. No event type has changed shape yet, so every type is at version 1.
 */
export const eventUpcasters: readonly Upcaster[] = [];

export const upcasters: UpcasterRegistry = upcasterRegistry(eventUpcasters);
