import { randomUUID } from 'node:crypto';
import { connectPostgres, dropSchema } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { freshPGlite, type TestDatabase } from './databases.ts';

/*
 * Everything a test needs to reach a PostgreSQL server, and nothing else: a test file can only use
 * the server through this module, so the files that import it (directly or through a helper) are
 * the ones whose outcome depends on DATABASE_URL. `npm run test:pg` (and `.ci/run`'s second pass)
 * runs exactly those, with `vitest related test/support/postgres.ts`, after `npm test` has run every
 * file on PGlite.
 */

export const databaseUrl = process.env.DATABASE_URL || undefined;

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

const allKinds: { name: string; fresh: () => Promise<TestDatabase> }[] = [
  { name: 'pglite', fresh: freshPGlite },
  ...(databaseUrl ? [{ name: 'postgres', fresh: () => freshPostgres() }] : []),
];

/**
 * The database kinds a test that takes any of them runs on: PGlite always and PostgreSQL when
 * DATABASE_URL is set, or only those named in TEST_DATABASE_KINDS (`postgres` in `npm run test:pg`,
 * whose PGlite cases `npm test` has already run).
 */
export const databaseKinds = selectKinds(process.env.TEST_DATABASE_KINDS);

function selectKinds(names: string | undefined) {
  if (!names) return allKinds;
  const wanted = names.split(',').map((name) => name.trim());
  const unknown = wanted.filter((name) => !allKinds.some((kind) => kind.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `TEST_DATABASE_KINDS names ${unknown.join(', ')}: available here are ${allKinds.map((k) => k.name).join(', ')}` +
        (databaseUrl ? '' : ' (postgres needs DATABASE_URL)'),
    );
  }
  return allKinds.filter((kind) => wanted.includes(kind.name));
}
