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

/**
 * The data folder of a migrated, empty PGlite, made once per test worker: every fresh database starts
 * from it, as PostgreSQL's CREATE DATABASE copies a template, instead of running initdb and every
 * migration again (the two were most of a fresh database's cost).
 */
let migratedTemplate: Promise<Blob> | undefined;

async function makeTemplate(): Promise<Blob> {
  const database = await connectPGlite();
  try {
    await migrate(database);
    return await database.dumpDataDir();
  } finally {
    await database.close();
  }
}

export async function freshPGlite(): Promise<TestDatabase> {
  // A failed template is not kept: the next call makes it again.
  migratedTemplate ??= makeTemplate().catch((error: unknown) => {
    migratedTemplate = undefined;
    throw error;
  });
  const database = await connectPGlite({ loadDataDir: await migratedTemplate });
  return { database, dispose: () => database.close() };
}
