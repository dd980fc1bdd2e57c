import type { Generated, Kysely } from 'kysely';
import { digestsOf } from './integrity.ts';

export type BlobTables = {
  warden_package_blobs: { digest: string; size: number; bytes: Uint8Array; created_at: Generated<Date> };
};

export interface BlobStore {
  /** Stores bytes under the sha512 of their content; identical bytes are stored once. */
  put(bytes: Uint8Array): Promise<{ digest: string; stored: boolean }>;
  get(digest: string): Promise<Uint8Array | undefined>;
}

/** Package tarballs in the database (migration 0012): shared by every worker, PGlite or PostgreSQL. */
export function blobStore(db: Kysely<BlobTables>): BlobStore {
  return {
    async put(bytes) {
      const { sha512Hex: digest } = await digestsOf(bytes);
      const inserted = await db
        .insertInto('warden_package_blobs')
        .values({ digest, size: bytes.length, bytes })
        .onConflict((oc) => oc.column('digest').doNothing())
        .returning('digest')
        .executeTakeFirst();
      return { digest, stored: inserted !== undefined };
    },
    async get(digest) {
      const row = await db
        .selectFrom('warden_package_blobs')
        .select('bytes')
        .where('digest', '=', digest)
        .executeTakeFirst();
      return row ? new Uint8Array(row.bytes) : undefined;
    },
  };
}
