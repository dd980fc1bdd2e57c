import { randomUUID } from 'node:crypto';
import { connectPGlite, connectPostgres, type Database, dropSchema } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

/** A database a test owns alone: in-memory PGlite, or a fresh schema on the server in DATABASE_URL. */
export interface TestDatabase {
  database: Database;
  dispose(): Promise<void>;
}

export const databaseUrl = process.env.DATABASE_URL;

export async function freshPGlite(): Promise<TestDatabase> {
  const database = await connectPGlite();
  await migrate(database);
  return { database, dispose: () => database.close() };
}

/**
 * A migrated schema of its own on the PostgreSQL server (`url`, default DATABASE_URL), named
 * `<prefix>_<random>`, dropped by `dispose`. Benchmarks use it too, with their own prefix.
 */
export async function freshPostgres(
  poolSize = 12,
  options: { url?: string | undefined; prefix?: string } = {},
): Promise<TestDatabase> {
  const url = options.url ?? databaseUrl;
  if (!url) throw new Error('DATABASE_URL is not set');
  const schema = `${options.prefix ?? 't'}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const database = await connectPostgres({ url, schema, poolSize });
  await migrate(database);
  return {
    database,
    dispose: async () => {
      await dropSchema(database);
      await database.close();
    },
  };
}

/** Every database kind available here: PGlite always, PostgreSQL when DATABASE_URL is set. */
export const databaseKinds: { name: string; fresh: () => Promise<TestDatabase> }[] = [
  { name: 'pglite', fresh: freshPGlite },
  ...(databaseUrl ? [{ name: 'postgres', fresh: () => freshPostgres() }] : []),
];
