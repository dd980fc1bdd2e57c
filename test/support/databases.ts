import { connectPGlite, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

/**
 * A database a test owns alone: in-memory PGlite here, or a fresh schema on a PostgreSQL server
 * (`freshPostgres` in ./postgres.ts).
 */
export interface TestDatabase {
  database: Database;
  dispose(): Promise<void>;
}

export async function freshPGlite(): Promise<TestDatabase> {
  const database = await connectPGlite();
  await migrate(database);
  return { database, dispose: () => database.close() };
}
