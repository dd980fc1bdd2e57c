import { expect } from 'vitest';
import type { Decider, DomainEvent } from '../../src/commands/kernel/decider.ts';
import { DomainError, type DomainErrorCode } from '../../src/commands/kernel/errors.ts';

/** given(events).when(command).thenEvents(events) — or .thenFails(code) — for any decider. */
export function specFor<C, E extends DomainEvent, S>(decider: Decider<C, E, S>) {
  return {
    given(events: E[]) {
      const state = events.reduce(decider.evolve, decider.initialState());
      return {
        when(command: C) {
          const run = () => decider.decide(command, state);
          return {
            thenEvents(expected: E[]) {
              expect(run()).toEqual(expected);
            },
            thenFails(code: DomainErrorCode, rule?: string) {
              let error: unknown;
              try {
                run();
              } catch (e) {
                error = e;
              }
              expect(error).toBeInstanceOf(DomainError);
              expect((error as DomainError).code).toBe(code);
              if (rule) expect((error as DomainError).detail.rule).toBe(rule);
            },
          };
        },
      };
    },
  };
}
