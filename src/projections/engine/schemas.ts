import { type Kysely, type QueryExecutorProvider, sql } from 'kysely';
import type { Projection } from './projection.ts';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A one-row unlogged table in a rebuild's shadow schema on PostgreSQL. The shadow's pages commit with
 * `synchronous_commit = off`, so a server crash can lose the last ones after they were acknowledged,
 * and the rebuilding process may reconnect and go on writing the pages after them. Crash recovery
 * empties every unlogged table: with the sentinel's row gone, the shadow may have a hole, and the
 * rebuild stops instead of swapping in a read model that misses events.
 */
export const SHADOW_SENTINEL = 'warden_rebuild_sentinel';

/**
 * The schema a projection is rebuilt in: readable (`warden_shadow_<name>_…`), at most 63 characters
 * (PostgreSQL's limit), and unique per live schema and projection, so parallel test schemas on one
 * server and two projections whose names fold to the same text never share a shadow.
 */
export function shadowSchemaName(liveSchema: string, projection: string): string {
  const readable = projection
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 24);
  const hash = fnv1a(`${liveSchema}\u0000${projection}`) + fnv1a(`${projection}\u0000${liveSchema}`);
  return `warden_shadow_${readable}_${hash}`;
}

/** `db` with the tables of a projection resolved in `schema` (the live one, or a rebuild's shadow). */
export function scoped(db: { withSchema(schema: string): unknown }, schema: string): Kysely<unknown> {
  // cast: the engine hands each projection an untyped view; its own definition types it (define.ts).
  return db.withSchema(schema) as Kysely<unknown>;
}

/** Refuses names the engine would have to quote-guess (projection tables come from code, not input). */
export function assertTableNames(projection: Projection): void {
  if (projection.tables.length === 0) throw new Error(`projection ${projection.name} declares no tables`);
  for (const table of projection.tables) {
    if (!IDENTIFIER.test(table) || table === SHADOW_SENTINEL)
      throw new Error(`projection ${projection.name}: invalid table name "${table}"`);
  }
}

/** Which of `tables` exist in `schema`. */
export async function existingTables(
  db: QueryExecutorProvider,
  schema: string,
  tables: readonly string[],
): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relkind in ('r', 'p') and c.relname = any(${[...tables]}::text[])`.execute(
    db,
  );
  return rows.map((r) => r.name);
}

/**
 * Points bare names in raw SQL at `schemas` for the rest of the transaction, so a projection that
 * writes `sql\`insert into counts …\`` lands in the shadow during a rebuild, not in the live table.
 */
export async function useSchemas(trx: QueryExecutorProvider, schemas: readonly string[]): Promise<void> {
  await sql`set local search_path to ${sql.join(schemas.map((s) => sql.id(s)))}`.execute(trx);
}

export async function recreateSchema(db: QueryExecutorProvider, schema: string): Promise<void> {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
  await sql`create schema ${sql.id(schema)}`.execute(db);
}

export async function dropSchemaIfExists(
  db: QueryExecutorProvider,
  schema: string,
  cascade = true,
): Promise<void> {
  await sql`drop schema if exists ${sql.id(schema)} ${cascade ? sql`cascade` : sql`restrict`}`.execute(db);
}

/**
 * The swap, inside the caller's transaction: the live tables go, the shadow ones move in under the
 * same names (indexes, constraints and owned sequences move with them). Queries waiting on the live
 * tables' lock re-resolve the name once it is released and read the new table.
 */
export async function moveTables(
  trx: QueryExecutorProvider,
  tables: readonly string[],
  from: string,
  to: string,
): Promise<void> {
  for (const table of tables) {
    await sql`drop table if exists ${sql.id(to, table)} cascade`.execute(trx);
  }
  for (const table of tables) {
    await sql`alter table ${sql.id(from, table)} set schema ${sql.id(to)}`.execute(trx);
  }
}

export async function dropTables(trx: QueryExecutorProvider, schema: string, tables: readonly string[]) {
  for (const table of tables) {
    await sql`drop table if exists ${sql.id(schema, table)} cascade`.execute(trx);
  }
}

export async function createSentinel(db: QueryExecutorProvider, schema: string): Promise<void> {
  await sql`create unlogged table ${sql.id(schema, SHADOW_SENTINEL)} (intact boolean not null)`.execute(db);
  await sql`insert into ${sql.id(schema, SHADOW_SENTINEL)} values (true)`.execute(db);
}

export async function sentinelIntact(db: QueryExecutorProvider, schema: string): Promise<boolean> {
  const { rows } = await sql<{ intact: boolean }>`
    select exists (select from ${sql.id(schema, SHADOW_SENTINEL)}) as intact`.execute(db);
  return rows[0]?.intact === true;
}

/** 32-bit FNV-1a: a short, stable, dependency-free hash (no security role here). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
