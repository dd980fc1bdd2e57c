import { type Kysely, sql } from 'kysely';

/**
 * Where output retention starts: each run's first frame (a tool execution's, a build's or a push's),
 * by when it was written. One entry a run, so the sweep finds the runs that began before its cutoff
 * without reading their frames; a run whose frames it removed leaves it (its first frame goes).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index warden_tool_output_first_at on warden_tool_output (at, execution_id) where seq = 1`.execute(
    db,
  );
}
