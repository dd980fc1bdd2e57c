import { type ColumnType, type Kysely, sql } from 'kysely';
import { preparedAs } from '../../db/prepared-statements.ts';

/** `warden_projections` (migration 0002): checkpoint, version, state, last error, rebuild lease. */
export interface ProjectionsTable {
  name: string;
  version: number | null;
  position: ColumnType<string | bigint, string, string>;
  state: string;
  error_message: string | null;
  error_event_id: string | null;
  error_position: ColumnType<string | bigint | null, string | null, string | null>;
  error_at: Date | null;
  rebuild_owner: string | null;
  rebuild_done: ColumnType<string | bigint | null, string | null, string | null>;
  rebuild_total: ColumnType<string | bigint | null, string | null, string | null>;
  rebuild_heartbeat: Date | null;
  updated_at: ColumnType<Date, never, Date>;
}

export type EngineTables = { warden_projections: ProjectionsTable };
export type EngineDb = Kysely<EngineTables>;

/** What made a projection fail: the message, and the event whose `apply` threw (when known). */
export interface ProjectionErrorInfo {
  message: string;
  eventId: string | null;
  position: bigint | null;
  at: Date;
}

export interface ProjectionRow {
  name: string;
  /** Version of the code that built the live tables; null when unknown. */
  version: number | null;
  position: bigint;
  state: string;
  error: ProjectionErrorInfo | null;
  /** Who holds the rebuild lease, alive or not. */
  rebuildOwner: string | null;
  /** The rebuild holding the lease, when its heartbeat is recent enough to count as alive. */
  rebuild: { owner: string; done: number; total: number } | null;
}

/** A rebuild whose heartbeat is older than this is considered dead; its lease can be taken over. */
export const REBUILD_LEASE_SECONDS = 30;

const now = sql<Date>`now()`;

/** Inserts the row of a projection seen for the first time: no known version, nothing applied. */
export async function ensureRow(db: EngineDb, name: string): Promise<void> {
  await db
    .insertInto('warden_projections')
    .values({ name, version: null, position: '0', state: 'stopped' })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
}

export async function readRows(db: EngineDb, names?: readonly string[]): Promise<Map<string, ProjectionRow>> {
  let query = db
    .selectFrom('warden_projections')
    .selectAll()
    .select(
      sql<boolean>`coalesce(rebuild_heartbeat > now() - make_interval(secs => ${REBUILD_LEASE_SECONDS}), false)`.as(
        'rebuild_alive',
      ),
    );
  if (names) {
    if (names.length === 0) return new Map();
    query = query.where('name', 'in', [...names]);
  }
  const rows = await query.execute();
  return new Map(rows.map((r) => [r.name, toRow(r)]));
}

/** Locks the row until the end of the transaction: the checkpoint and version cannot move under us. */
export async function lockRow(trx: EngineDb, name: string): Promise<ProjectionRow | undefined> {
  // Every page a projection commits takes it: a named prepared statement (see preparedAs).
  const row = await trx
    .selectFrom('warden_projections')
    .select(ROW_COLUMNS)
    .select(sql<boolean>`false`.as('rebuild_alive'))
    .where('name', '=', name)
    .forUpdate()
    .modifyEnd(preparedAs('warden_projection_lock'))
    .executeTakeFirst();
  return row && toRow(row);
}

/** A checkpoint's move from where its runner left it, under the runner's version. */
export interface CheckpointMove {
  from: bigint;
  to: bigint;
  version: number;
  state: string;
  /** Clear the recorded failure (the projection got past the event that caused it). */
  clearError: boolean;
}

/**
 * Moves a checkpoint only if it still stands at `from` under `version` (a concurrent mover holding
 * the row makes this wait, then find it moved), and holds the row until the end of the transaction
 * it runs in. False when it moved. Alone, it moves the checkpoint past events the projection does
 * not read; first in a page's transaction, it is that page's lock and checkpoint in one statement.
 *
 * `inline` writes the values into the text instead of sending them as parameters, for the first
 * statement of a transaction: on PostgreSQL a statement without parameters goes with the
 * transaction's `begin` in one round trip (see `withPreparedStatements`). The values are the engine's
 * own (a projection's name, positions, a version, a state), quoted by kysely as literals.
 */
export async function advanceCheckpoint(
  db: EngineDb,
  name: string,
  move: CheckpointMove,
  { inline = false }: { inline?: boolean } = {},
): Promise<boolean> {
  const value = <T extends string | number | null>(v: T) => (inline ? sql.lit(v) : v);
  let query = db
    .updateTable('warden_projections')
    .set({
      position: value(move.to.toString()),
      state: value(move.state),
      updated_at: now,
      ...(move.clearError
        ? {
            error_message: value(null),
            error_event_id: value(null),
            error_position: value(null),
            error_at: value(null),
          }
        : {}),
    })
    .where('name', '=', value(name))
    .where('position', '=', value(move.from.toString()))
    .where('version', '=', value(move.version));
  if (!inline) {
    query = query.modifyEnd(
      preparedAs(move.clearError ? 'warden_projection_advance_clearing' : 'warden_projection_advance'),
    );
  }
  const result = await query.executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function markFailed(db: EngineDb, name: string, error: ProjectionErrorInfo): Promise<void> {
  await db
    .updateTable('warden_projections')
    .set({
      state: 'failed',
      error_message: error.message,
      error_event_id: error.eventId,
      error_position: error.position === null ? null : error.position.toString(),
      error_at: error.at,
      updated_at: now,
    })
    .where('name', '=', name)
    .execute();
}

/** Records the state (e.g. `stopped` on shutdown) unless the projection is marked failed. */
export async function setState(db: EngineDb, name: string, state: string): Promise<void> {
  await db
    .updateTable('warden_projections')
    .set({ state, updated_at: now })
    .where('name', '=', name)
    .where('state', '<>', 'failed')
    .execute();
}

/** Live tables (re)created from scratch: this version, nothing applied yet. */
export async function resetRow(trx: EngineDb, name: string, version: number): Promise<void> {
  await trx
    .updateTable('warden_projections')
    .set({
      version,
      position: '0',
      state: 'catching_up',
      error_message: null,
      error_event_id: null,
      error_position: null,
      error_at: null,
      updated_at: now,
    })
    .where('name', '=', name)
    .execute();
}

/** Takes the rebuild lease if nobody holds a live one; false when another rebuild is alive. */
export async function claimRebuild(
  db: EngineDb,
  name: string,
  owner: string,
  total: number,
): Promise<boolean> {
  const result = await db
    .updateTable('warden_projections')
    .set({ rebuild_owner: owner, rebuild_done: '0', rebuild_total: String(total), rebuild_heartbeat: now })
    .where('name', '=', name)
    .where((eb) =>
      eb.or([
        eb('rebuild_owner', 'is', null),
        eb('rebuild_heartbeat', 'is', null),
        sql<boolean>`rebuild_heartbeat < now() - make_interval(secs => ${REBUILD_LEASE_SECONDS})`,
      ]),
    )
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Renews the lease and publishes progress; false when the lease was lost (the rebuild must stop). */
export async function heartbeatRebuild(
  db: EngineDb,
  name: string,
  owner: string,
  done: number,
  total: number,
): Promise<boolean> {
  const result = await db
    .updateTable('warden_projections')
    .set({ rebuild_done: String(done), rebuild_total: String(total), rebuild_heartbeat: now })
    .where('name', '=', name)
    .where('rebuild_owner', '=', owner)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function releaseRebuild(db: EngineDb, name: string, owner: string): Promise<void> {
  await db
    .updateTable('warden_projections')
    .set({ rebuild_owner: null, rebuild_done: null, rebuild_total: null, rebuild_heartbeat: null })
    .where('name', '=', name)
    .where('rebuild_owner', '=', owner)
    .execute();
}

/** The swap's bookkeeping: the live tables are now the rebuilt ones, at this version and checkpoint. */
export async function completeRebuild(
  trx: EngineDb,
  name: string,
  version: number,
  position: bigint,
): Promise<void> {
  await trx
    .updateTable('warden_projections')
    .set({
      version,
      position: position.toString(),
      state: 'live',
      error_message: null,
      error_event_id: null,
      error_position: null,
      error_at: null,
      rebuild_owner: null,
      rebuild_done: null,
      rebuild_total: null,
      rebuild_heartbeat: null,
      updated_at: now,
    })
    .where('name', '=', name)
    .execute();
}

/** The row's columns, named (a prepared statement never selects `*`). */
const ROW_COLUMNS = [
  'name',
  'version',
  'position',
  'state',
  'error_message',
  'error_event_id',
  'error_position',
  'error_at',
  'rebuild_owner',
  'rebuild_done',
  'rebuild_total',
] as const satisfies readonly (keyof ProjectionsTable)[];

interface RawRow {
  name: string;
  version: number | null;
  position: string | bigint;
  state: string;
  error_message: string | null;
  error_event_id: string | null;
  error_position: string | bigint | null;
  error_at: Date | null;
  rebuild_owner: string | null;
  rebuild_done: string | bigint | null;
  rebuild_total: string | bigint | null;
  rebuild_alive: boolean;
}

function toRow(r: RawRow): ProjectionRow {
  return {
    name: r.name,
    version: r.version === null ? null : Number(r.version),
    position: BigInt(r.position),
    state: r.state,
    error:
      r.error_message === null
        ? null
        : {
            message: r.error_message,
            eventId: r.error_event_id,
            position: r.error_position === null ? null : BigInt(r.error_position),
            at: r.error_at instanceof Date ? r.error_at : new Date(r.error_at ?? 0),
          },
    rebuildOwner: r.rebuild_owner,
    rebuild:
      r.rebuild_owner !== null && r.rebuild_alive
        ? { owner: r.rebuild_owner, done: Number(r.rebuild_done ?? 0), total: Number(r.rebuild_total ?? 0) }
        : null,
  };
}

/** The engine's table, in the live schema (named explicitly: a rebuild moves `search_path` away). */
export function engineTables(db: { withSchema(schema: string): unknown }, schema: string): EngineDb {
  return db.withSchema(schema) as EngineDb;
}
