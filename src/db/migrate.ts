import { type Kysely, sql } from 'kysely';
import type { Database } from './database.ts';
import { migrations as all, type Migration } from './migrations/index.ts';

/**
 * Applies the migrations not yet applied, in order, each in its own transaction. An advisory lock
 * makes concurrent starters (several workers booting at once) take turns instead of racing.
 */
export async function migrate(database: Database, migrations: readonly Migration[] = all): Promise<string[]> {
  // cast: Kysely's table map is invariant; the migrations table is created below, outside the app's Tables.
  const db = database.db as unknown as Kysely<{ warden_migrations: { name: string; applied_at: Date } }>;
  return db.connection().execute(async (conn) => {
    if (database.kind === 'postgres') await sql`select pg_advisory_lock(7726001)`.execute(conn);
    try {
      await sql`create table if not exists warden_migrations (
        name text primary key, applied_at timestamptz not null default now())`.execute(conn);
      const done = new Set(
        (await conn.selectFrom('warden_migrations').select('name').execute()).map((r) => r.name),
      );
      const applied: string[] = [];
      for (const migration of migrations) {
        if (done.has(migration.name)) continue;
        await conn.transaction().execute(async (trx) => {
          // cast: migrations run on the schema before the app's tables exist, so they take an untyped Kysely.
          await migration.up(trx as unknown as Kysely<unknown>);
          await trx
            .insertInto('warden_migrations')
            .values({ name: migration.name } as never)
            .execute();
        });
        applied.push(migration.name);
      }
      return applied;
    } finally {
      if (database.kind === 'postgres') await sql`select pg_advisory_unlock(7726001)`.execute(conn);
    }
  });
}
