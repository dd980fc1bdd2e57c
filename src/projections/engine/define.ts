import type { Kysely } from 'kysely';
import type { RecordedEvent } from '../../eventstore/port.ts';
import type { Projection } from './projection.ts';

/** An event as a projection receives it: stored, and one of the union it handles. */
export type Recorded<E extends { type: string; data: unknown }> = RecordedEvent & E;

/** A projection as its file writes it: typed by the events it handles and by its own tables. */
export interface ProjectionDefinition<E extends { type: string; data: unknown }, DB>
  extends Omit<Projection<DB>, 'types' | 'apply' | 'applyBatch' | 'entityOf'> {
  /** Event types it handles; the engine delivers no others, which is what makes `E` true. */
  readonly types: readonly E['type'][];
  apply(event: Recorded<E>, db: Kysely<DB>): Promise<void>;
  applyBatch?(events: readonly Recorded<E>[], db: Kysely<DB>): Promise<void>;
  entityOf?(event: Recorded<E>): string;
}

/**
 * Types a projection by its events union and its tables, and hands the engine the erased
 * `Projection` it runs. Curried so the two type arguments are written and the definition inferred:
 * `defineProjection<ProjectEvent, ProjectListTables>()({ … })`.
 */
export function defineProjection<E extends { type: string; data: unknown }, DB>() {
  return (definition: ProjectionDefinition<E, DB>): Projection =>
    // cast: kysely's table map is invariant, and the engine delivers only events of `types`.
    definition as unknown as Projection;
}
