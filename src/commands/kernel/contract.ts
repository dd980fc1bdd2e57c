import type { z } from 'zod';
import type { Decider, DomainEvent } from './decider.ts';
import { type FieldError, invalid } from './errors.ts';

/**
 * Validates events against their stored contract (one zod schema per type) as `decide` returns
 * them, so an event that would break its own schema is never appended. Returns the parsed events
 * (defaults applied, unknown keys dropped); a violation becomes `fail(errors)` with field paths.
 */
export function checkAgainst<E extends DomainEvent>(
  schemas: Readonly<Record<string, z.ZodType>>,
  events: E[],
  fail: (errors: FieldError[]) => Error,
  /** The path named when the violation is of the event as a whole. */
  wholePath = '(command)',
): E[] {
  return events.map((event) => {
    const schema = schemas[event.type];
    if (!schema) throw fail([{ path: 'type', message: `unknown event type ${event.type}` }]);
    const parsed = schema.safeParse(event.data);
    if (!parsed.success) {
      throw fail(
        parsed.error.issues.map((i) => ({ path: i.path.join('.') || wholePath, message: i.message })),
      );
    }
    return { type: event.type, data: parsed.data } as E;
  });
}

/**
 * The decider whose `decide` only lets out events that satisfy their stored contract (normalised by
 * the schemas); a violation is INVALID with field paths. Every aggregate is built with it once.
 */
export function validated<Command, Event extends DomainEvent, State>(
  decider: Decider<Command, Event, State>,
  schemas: Readonly<Record<string, z.ZodType>>,
  /** The path named when the violation is of the event as a whole. */
  wholePath?: string,
): Decider<Command, Event, State> {
  return {
    ...decider,
    decide: (command, state) => checkAgainst(schemas, decider.decide(command, state), invalid, wholePath),
  };
}
