import { type Kysely, sql } from 'kysely';
import type { Database } from './database.ts';

/*
 * Table upkeep for embedded PGlite, which runs no autovacuum: PostgreSQL's autovacuum rules, applied
 * in-process. Without it nothing ever vacuums or analyzes a PGlite database: the space of deleted
 * and updated rows is never reused (a queue table that inserts and deletes grows by every job it
 * ever held), planner statistics are never gathered, and GIN indexes (the issue list's search) keep
 * scanning their pending list. A PostgreSQL server's autovacuum does all of this itself.
 */

/** PostgreSQL's autovacuum settings at their defaults (PostgreSQL 18, as PGlite 0.5 embeds). */
export const AUTOVACUUM_DEFAULTS = {
  vacuumThreshold: 50,
  vacuumScaleFactor: 0.2,
  vacuumMaxThreshold: 100_000_000,
  insertThreshold: 1000,
  insertScaleFactor: 0.2,
  analyzeThreshold: 50,
  analyzeScaleFactor: 0.1,
  freezeMaxAge: 200_000_000,
};

/** One table's activity since its last vacuum and analyze, as `pg_stat_all_tables` and `pg_class` count it. */
export interface TableActivity {
  schema: string;
  table: string;
  /** `pg_class.reltuples`: the rows at the last vacuum or analyze, -1 before the first. */
  estimatedRows: number;
  deadRows: number;
  insertedSinceVacuum: number;
  modifiedSinceAnalyze: number;
  /** `age(relfrozenxid)`: transactions since the table's oldest unfrozen row id. */
  xidAge: number;
  /** The last vacuum and analyze, by anyone (this upkeep, autovacuum, an operator); null when never. */
  lastVacuumAt: Date | null;
  lastAnalyzeAt: Date | null;
}

/**
 * `freeze`: near transaction-id wraparound, vacuumed with every row frozen (and analyzed);
 * `vacuum_analyze`, `vacuum`, `analyze`: what autovacuum would run.
 */
export type UpkeepAction = 'freeze' | 'vacuum_analyze' | 'vacuum' | 'analyze';

/**
 * What autovacuum would do to this table now, by its formulas: vacuum once the dead rows pass
 * `vacuumThreshold + vacuumScaleFactor × rows` (capped at `vacuumMaxThreshold`) or the rows inserted
 * since the last vacuum pass `insertThreshold + insertScaleFactor × rows` (which sets the visibility
 * map and merges GIN pending lists); analyze once the rows changed since the last analyze pass
 * `analyzeThreshold + analyzeScaleFactor × rows` (never pg_statistic); freeze past `freezeMaxAge`. A
 * table never vacuumed nor analyzed counts as empty, as autovacuum counts it.
 */
export function upkeepDue(activity: TableActivity): UpkeepAction | undefined {
  const thresholds = AUTOVACUUM_DEFAULTS;
  if (activity.xidAge > thresholds.freezeMaxAge) return 'freeze';
  const rows = Math.max(0, activity.estimatedRows);
  const vacuum =
    activity.deadRows >
      Math.min(
        thresholds.vacuumMaxThreshold,
        thresholds.vacuumThreshold + thresholds.vacuumScaleFactor * rows,
      ) || activity.insertedSinceVacuum > thresholds.insertThreshold + thresholds.insertScaleFactor * rows;
  const analyze =
    !isStatistics(activity) &&
    activity.modifiedSinceAnalyze > thresholds.analyzeThreshold + thresholds.analyzeScaleFactor * rows;
  if (vacuum) return analyze ? 'vacuum_analyze' : 'vacuum';
  return analyze ? 'analyze' : undefined;
}

/** ANALYZE skips pg_statistic (it cannot sample its columns), so its count never resets: autovacuum never analyzes it. */
const isStatistics = (activity: TableActivity) =>
  activity.schema === 'pg_catalog' && activity.table === 'pg_statistic';

const STATEMENTS: Record<UpkeepAction, string> = {
  freeze: 'vacuum (freeze, analyze)',
  vacuum_analyze: 'vacuum (analyze)',
  vacuum: 'vacuum',
  analyze: 'analyze',
};

/** PostgreSQL's SQLSTATE for a relation that does not exist. */
const UNDEFINED_TABLE = '42P01';

/** One table's upkeep in a pass: what ran and how long it held the database. */
export interface UpkeepDone {
  table: string;
  action: UpkeepAction;
  ms: number;
}

/**
 * The activity of the database's own tables (its schema: the connection's search path, `public` or
 * the one it was opened with) and of the system catalogs (which projection rebuilds churn: each
 * creates and drops a shadow schema), those this role may vacuum. This session's pending counts are
 * flushed first: on PGlite every count is this session's, and they otherwise reach the view a
 * second later at best.
 */
export async function readTableActivity(database: Pick<Database, 'db'>): Promise<TableActivity[]> {
  const db = database.db as unknown as Kysely<unknown>;
  await sql`select pg_stat_force_next_flush()`.execute(db);
  const { rows } = await sql<{
    schema: string;
    table: string;
    estimated_rows: number;
    dead_rows: string;
    inserted_since_vacuum: string;
    modified_since_analyze: string;
    xid_age: number;
    last_vacuum_at: Date | string | null;
    last_analyze_at: Date | string | null;
  }>`
    select s.schemaname as schema, s.relname as table, c.reltuples as estimated_rows,
      s.n_dead_tup as dead_rows, s.n_ins_since_vacuum as inserted_since_vacuum,
      s.n_mod_since_analyze as modified_since_analyze, age(c.relfrozenxid) as xid_age,
      greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum_at,
      greatest(s.last_analyze, s.last_autoanalyze) as last_analyze_at
    from pg_stat_all_tables s join pg_class c on c.oid = s.relid
    where s.schemaname in (current_schema(), 'pg_catalog') and c.relkind in ('r', 'm')
      -- Only what this role may vacuum: a role that is no superuser skips the catalogs (PostgreSQL
      -- warns and does nothing), which a server's autovacuum keeps up anyway.
      and (pg_has_role(c.relowner, 'USAGE') or (select rolsuper from pg_roles where rolname = current_user))
    order by s.n_dead_tup desc, s.relname`.execute(db);
  return rows.map((row) => ({
    schema: row.schema,
    table: row.table,
    estimatedRows: Number(row.estimated_rows),
    deadRows: Number(row.dead_rows),
    insertedSinceVacuum: Number(row.inserted_since_vacuum),
    modifiedSinceAnalyze: Number(row.modified_since_analyze),
    xidAge: Number(row.xid_age),
    lastVacuumAt: row.last_vacuum_at === null ? null : new Date(row.last_vacuum_at),
    lastAnalyzeAt: row.last_analyze_at === null ? null : new Date(row.last_analyze_at),
  }));
}

/**
 * Gives every table of `activities` past a threshold what autovacuum would give it, one after another
 * (on PGlite each holds the one session, and so every other query, while it runs). A table dropped
 * since its activity was read (a rebuild's swap drops the tables it replaced) is passed over.
 */
export async function keepUpTables(
  database: Pick<Database, 'db'>,
  activities: readonly TableActivity[],
): Promise<UpkeepDone[]> {
  const done: UpkeepDone[] = [];
  for (const activity of activities) {
    const action = upkeepDue(activity);
    if (!action) continue;
    const started = performance.now();
    try {
      await sql`${sql.raw(STATEMENTS[action])} ${sql.id(activity.schema, activity.table)}`.execute(
        database.db as unknown as Kysely<unknown>,
      );
    } catch (error) {
      if ((error as { code?: unknown }).code === UNDEFINED_TABLE) continue;
      throw error;
    }
    done.push({
      table: `${activity.schema}.${activity.table}`,
      action,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  }
  return done;
}

/** One pass: the tables' activity read, and each past a threshold kept up. */
export async function upkeepPass(database: Pick<Database, 'db'>): Promise<UpkeepDone[]> {
  return keepUpTables(database, await readTableActivity(database));
}

export interface TableUpkeep {
  /** Stops the timer and waits for a pass under way. */
  stop(): Promise<void>;
}

/**
 * Runs `upkeepPass` every `intervalMs` (autovacuum's naptime is a minute), never two at once. A pass
 * that did something is reported to `onDone`; a failed one (or a failing report) to `onError`, and the
 * next runs as planned.
 */
export function startTableUpkeep(options: {
  database: Pick<Database, 'db'>;
  intervalMs: number;
  onDone: (done: UpkeepDone[]) => void;
  onError: (error: unknown) => void;
}): TableUpkeep {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = upkeepPass(options.database)
        .then((done) => {
          if (done.length > 0) options.onDone(done);
        })
        .catch(options.onError)
        .finally(schedule);
    }, options.intervalMs);
    // Never what keeps the process alive.
    (timer as { unref?: () => void }).unref?.();
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
