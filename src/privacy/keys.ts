import { type Kysely, sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import { aesKey, base64url, fromBase64url, open, seal } from '../identity/index.ts';

export interface PersonalDataKeysTable {
  key_id: string;
  subject_id: string;
  tenant_id: string | null;
  /** The data key sealed with the key-encryption key; null once erased. */
  sealed_key: string | null;
  created_at: Date;
  erased_at: Date | null;
}

// A type alias (not an interface) so kysely accepts it as a table map.
export type PersonalDataTables = { warden_personal_data_keys: PersonalDataKeysTable };

/** A person's data key as the encryption wrapper uses it. */
export interface DataKey {
  keyId: string;
  key: CryptoKey;
}

/**
 * The per-person data keys (crypto-shredding). Nothing is cached across calls but the unsealed form
 * of a key still present in the table: every read asks the database which keys exist, so an erasure
 * by another process (another API replica, a worker) takes effect on the next read everywhere.
 */
export interface PersonalDataKeys {
  /** The subject's live key, made on first use (concurrent callers get the same one). */
  current(subjectId: string, tenantId: string | null): Promise<DataKey>;
  /** The keys with these ids that still exist; an erased or unknown key is absent. */
  find(keyIds: readonly string[]): Promise<Map<string, CryptoKey>>;
  /** Destroys every key of the subject (idempotent); the number of keys destroyed now. */
  erase(subjectId: string): Promise<number>;
  /** The same keys, read and written through `db` (a transaction the caller holds). */
  using(db: Kysely<unknown>): PersonalDataKeys;
}

const context = (keyId: string) => `warden personal-data key ${keyId}`;

/** Data keys in `warden_personal_data_keys`, sealed with `keyEncryptionKey` (AES-256-GCM). */
export function personalDataKeys(
  db: Kysely<unknown>,
  keyEncryptionKey: CryptoKey,
  clock: () => Date = () => new Date(),
): PersonalDataKeys {
  // Unsealed keys by id and sealed text: saves the KEK round per read, never decides existence.
  const unsealed = new LRUCache<string, { sealed: string; key: Promise<CryptoKey> }>({ max: 10_000 });
  const unseal = (keyId: string, sealed: string): Promise<CryptoKey> => {
    const hit = unsealed.get(keyId);
    if (hit && hit.sealed === sealed) return hit.key;
    const key = open(keyEncryptionKey, sealed, context(keyId)).then(
      (raw) => aesKey(fromBase64url(raw)),
      () => {
        // Never read as "erased": that would write placeholders into read models on a rebuild.
        throw new Error(
          `personal-data key ${keyId} does not open: is WARDEN_KEY_ENCRYPTION_KEY the one it was sealed with?`,
        );
      },
    );
    key.catch(() => unsealed.delete(keyId));
    unsealed.set(keyId, { sealed, key });
    return key;
  };
  const bind = (executor: Kysely<unknown>): PersonalDataKeys => {
    // cast: Kysely's table map is invariant; the key table lives in whichever executor (db or transaction) is bound.
    const keys = executor as unknown as Kysely<PersonalDataTables>;
    return {
      async current(subjectId, tenantId) {
        const live = () =>
          keys
            .selectFrom('warden_personal_data_keys')
            .select(['key_id', 'sealed_key'])
            .where('subject_id', '=', subjectId)
            .where('erased_at', 'is', null)
            .executeTakeFirst();
        let row = await live();
        if (!row?.sealed_key) {
          const keyId = crypto.randomUUID();
          const raw = base64url(crypto.getRandomValues(new Uint8Array(32)));
          await keys
            .insertInto('warden_personal_data_keys')
            .values({
              key_id: keyId,
              subject_id: subjectId,
              tenant_id: tenantId,
              sealed_key: await seal(keyEncryptionKey, raw, context(keyId)),
              created_at: clock(),
              erased_at: null,
            })
            // A concurrent first use won: take its key.
            .onConflict((oc) => oc.column('subject_id').where('erased_at', 'is', null).doNothing())
            .execute();
          row = await live();
        }
        if (!row?.sealed_key) throw new Error(`no personal-data key for ${subjectId}`);
        return { keyId: row.key_id, key: await unseal(row.key_id, row.sealed_key) };
      },
      async find(keyIds) {
        const found = new Map<string, CryptoKey>();
        if (keyIds.length === 0) return found;
        const { rows } = await sql<{ key_id: string; sealed_key: string }>`
          select key_id, sealed_key from warden_personal_data_keys
          where key_id = any(${[...keyIds]}::uuid[]) and sealed_key is not null /* prepared:personal_data_keys_find */`.execute(
          executor,
        );
        for (const row of rows) found.set(row.key_id, await unseal(row.key_id, row.sealed_key));
        // Erased elsewhere: drop the unsealed copy too.
        for (const keyId of keyIds) if (!found.has(keyId)) unsealed.delete(keyId);
        return found;
      },
      async erase(subjectId) {
        const destroyed = await keys
          .updateTable('warden_personal_data_keys')
          .set({ sealed_key: null, erased_at: clock() })
          .where('subject_id', '=', subjectId)
          .where('erased_at', 'is', null)
          .returning('key_id')
          .execute();
        for (const { key_id } of destroyed) unsealed.delete(key_id);
        return destroyed.length;
      },
      using: bind,
    };
  };
  return bind(db);
}
