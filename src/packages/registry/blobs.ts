import type { Generated, Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
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

/**
 * Keeps the tarballs this process stored or read last in memory, up to `maxBytes` (least recently
 * used out first), in front of `inner`: a package published right after its checks reads its bytes
 * from here instead of the database. Bytes are only kept under the digest `inner` computed for them.
 */
export function cachedBlobStore(inner: BlobStore, maxBytes: number): BlobStore {
  const cache = new LRUCache<string, Uint8Array>({
    maxSize: maxBytes,
    // One tarball never takes more than a quarter: a few large ones must not flush all the rest.
    maxEntrySize: maxBytes / 4,
    // lru-cache wants a positive size; an empty tarball still counts as one byte.
    sizeCalculation: (bytes) => Math.max(1, bytes.length),
  });
  return {
    async put(bytes) {
      const result = await inner.put(bytes);
      cache.set(result.digest, bytes);
      return result;
    },
    async get(digest) {
      const cached = cache.get(digest);
      if (cached) return cached;
      const bytes = await inner.get(digest);
      if (bytes) cache.set(digest, bytes);
      return bytes;
    },
  };
}
