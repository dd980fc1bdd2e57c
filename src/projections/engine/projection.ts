import type { Kysely } from 'kysely';
import type { RecordedEvent } from '../../eventstore/port.ts';

/**
 * A read model built from events. Its tables live in the database's schema; a rebuild creates the
 * same tables in a shadow schema, replays into them while the live ones keep serving, and swaps.
 * So a projection never names a schema: it gets a `db` already scoped to the right one. Query-builder
 * tables carry that schema; for raw `sql`, use bare table names: during a rebuild the engine points
 * `search_path` at the shadow schema, so they resolve where the builder's do.
 */
export interface Projection<DB = unknown> {
  /** Named for the read model it builds, e.g. `tenantList`. */
  readonly name: string;
  /** Bump when `apply` or the tables change: the engine then rebuilds it. */
  readonly version: number;
  /** Event types it handles; others are never delivered to it. */
  readonly types: readonly string[];
  /** Tables it owns (swapped together on rebuild). */
  readonly tables: readonly string[];
  /** Creates its tables and indexes in the schema `db` is scoped to (`db.withSchema(...)`). */
  createTables(db: Kysely<unknown>): Promise<void>;
  /**
   * Optional: secondary indexes, built once a rebuild has bulk-loaded the shadow tables (one sorted
   * build instead of a random b-tree insert per event), and right after `createTables` for new
   * tables. Keys that `apply` relies on (primary keys, unique constraints for upserts) stay in
   * `createTables`.
   */
  createIndexes?(db: Kysely<unknown>): Promise<void>;
  /**
   * Optional: true when pages of events may be folded side by side and commit in any order, because
   * what an event writes never depends on rows an earlier event wrote (an append-only log, say). A
   * rebuild on PostgreSQL then writes two shadow pages at once. Otherwise (the default) pages go one
   * after another: a page read-modify-writing an entity must see the page before it committed, or
   * an entity whose events straddle the two pages loses the later ones.
   */
  readonly independentPages?: boolean;
  /**
   * Optional: the entity an event belongs to, for a projection whose events read and write only
   * their own entity's rows (the issue list: an issue's row and its comments, by issue id). Events of
   * different entities then fold in any order, those of one entity in log order: a rebuild on
   * PostgreSQL splits each page by entity over two shadow writers, an entity always on the same one,
   * so one writer folds while the other's page is on the server.
   */
  entityOf?(event: RecordedEvent): string;
  /** Folds one event into the read model, inside the engine's transaction (with the checkpoint). */
  apply(event: RecordedEvent, db: Kysely<DB>): Promise<void>;
  /**
   * Optional set-based path: folds several events (in order, all of this projection's types) with a
   * few statements instead of one per event. It must leave the same rows as `apply` on each event in
   * turn. The engine uses it for catch-up pages and rebuilds; if it throws, the engine replays the
   * batch event by event to find (and report) the event that fails.
   */
  applyBatch?(events: readonly RecordedEvent[], db: Kysely<DB>): Promise<void>;
}
