import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobTables, blobStore } from '../../../src/packages/registry/blobs.ts';
import { digestsOf } from '../../../src/packages/registry/integrity.ts';
import type { TestDatabase } from '../../support/databases.ts';
import { packTarball } from '../../support/fixture-packages.ts';
import { databaseKinds } from '../../support/postgres.ts';

describe.each(databaseKinds)('the package blob store on $name', ({ fresh }) => {
  let owned: TestDatabase;
  let db: Kysely<BlobTables>;
  beforeAll(async () => {
    owned = await fresh();
    db = owned.database.db as unknown as Kysely<BlobTables>;
  });
  afterAll(() => owned?.dispose());

  it('stores bytes under the sha512 of their content and gives back the very same bytes', async () => {
    const bytes = await packTarball({ name: 'blob', version: '1.0.0' });
    const { sha512Hex } = await digestsOf(bytes);
    expect(await blobStore(db).put(bytes)).toEqual({ digest: sha512Hex, stored: true });
    expect(await blobStore(db).get(sha512Hex)).toEqual(bytes);
  });

  it('stores identical bytes once, even when workers put them at the same moment', async () => {
    const bytes = Uint8Array.from({ length: 100_000 }, () => Math.floor(Math.random() * 256));
    const results = await Promise.all([1, 2, 3, 4].map(() => blobStore(db).put(bytes.slice())));
    expect(results.filter((r) => r.stored)).toHaveLength(1);
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    const rows = await db
      .selectFrom('warden_package_blobs')
      .select(['size'])
      .where('digest', '=', results[0]!.digest)
      .execute();
    expect(rows).toEqual([{ size: 100_000 }]);
  });

  it('keeps every byte value intact (bytea round trip) and knows nothing of an unknown digest', async () => {
    const all = Uint8Array.from({ length: 256 * 4 }, (_, i) => i % 256);
    const { digest } = await blobStore(db).put(all);
    expect(await blobStore(db).get(digest)).toEqual(all);
    expect(await blobStore(db).get('0'.repeat(128))).toBeUndefined();
  });
});
