import type { Database } from '../../db/database.ts';
import type { Projection } from './projection.ts';
import { engineTables, ensureRow, lockRow, type ProjectionErrorInfo, resetRow } from './rows.ts';
import { existingTables, scoped, useSchemas } from './schemas.ts';

/** Run from the stored checkpoint (retrying a recorded failure), or rebuild first. */
export type StartPlan = { run: bigint; error: ProjectionErrorInfo | null } | 'rebuild';

/**
 * Decides, under the row lock (two engines starting at once take turns), how a projection starts:
 * with no tables yet, they are created and it catches up from the first event; with tables of
 * another (or an unknown) version, or only some of them, it is rebuilt; otherwise it goes on from
 * its checkpoint.
 */
export async function planStart(database: Database, projection: Projection): Promise<StartPlan> {
  const { db, schema } = database;
  await ensureRow(engineTables(db, schema), projection.name);
  return db.transaction().execute(async (trx): Promise<StartPlan> => {
    const rows = engineTables(trx, schema);
    const row = (await lockRow(rows, projection.name))!;
    const found = await existingTables(trx, schema, projection.tables);
    if (found.length === 0) {
      await useSchemas(trx, [schema]);
      await projection.createTables(scoped(trx, schema));
      await projection.createIndexes?.(scoped(trx, schema));
      await resetRow(rows, projection.name, projection.version);
      return { run: 0n, error: null };
    }
    if (found.length < projection.tables.length || row.version !== projection.version) return 'rebuild';
    return { run: row.position, error: row.error };
  });
}
