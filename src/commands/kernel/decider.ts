/** A domain event as `decide` produces it: a past-tense fact with its data. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
}

/**
 * An aggregate: pure `decide` (command + state → new events, or a thrown DomainError) and pure
 * `evolve` (state + event → state). No I/O, no clock, no random ids: they arrive in the command.
 */
export interface Decider<Command, Event extends DomainEvent, State> {
  initialState: () => State;
  decide: (command: Command, state: State) => Event[];
  evolve: (state: State, event: Event) => State;
  /**
   * Its state may be kept between loads (per store object, for the newest streams loaded), so a load
   * reads and folds only the events after it: for a long stream read on every command (a tenant's
   * images). Only for deciders whose events carry no personal fields (an erasure must reach every
   * read; the store opens them on read) and whose `evolve` never changes the state it is given.
   */
  snapshots?: boolean;
}

/** Folds events into state with the decider's own `evolve` (loading, replay, tests). */
export function fold<Event extends DomainEvent, State>(
  decider: Pick<Decider<unknown, Event, State>, 'initialState' | 'evolve'>,
  events: Iterable<Event>,
): State {
  let state = decider.initialState();
  for (const event of events) state = decider.evolve(state, event);
  return state;
}
