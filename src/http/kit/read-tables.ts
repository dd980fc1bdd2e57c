import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';

/**
 * The database as a read model's queries type it: a Kysely over that read model's tables alone. They
 * live in the same database as the event tables; only the type changes.
 */
export function readTables<ReadTables>(db: Kysely<Tables>): Kysely<ReadTables> {
  // cast: Kysely is invariant in its table map, so `withTables` (which adds) cannot narrow to the read model's own.
  return db as unknown as Kysely<ReadTables>;
}
