import { type Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERASED } from '../../src/commands/identity/index.ts';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { aesKey } from '../../src/identity/tokens/crypto.ts';
import {
  isSealed,
  type PersonalDataKeys,
  personalDataKeys,
  personalDataStore,
} from '../../src/privacy/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { visible } from '../support/visibility.ts';

const newKey = () => aesKey(crypto.getRandomValues(new Uint8Array(32)));

/**
 * The encryption wrapper on its own, over the real PostgreSQL/PGlite store and key table: what is
 * stored, what every read path returns, and what erasure changes.
 */
for (const kind of databaseKinds) {
  describe(`personal-data store wrapper (${kind.name})`, () => {
    let db: TestDatabase;
    let raw: EventStore;
    let keys: PersonalDataKeys;
    let store: EventStore;
    let kek: CryptoKey;
    const tenantId = crypto.randomUUID();
    const ada = crypto.randomUUID();
    const bob = crypto.randomUUID();

    beforeEach(async () => {
      db = await kind.fresh();
      raw = postgresEventStore(db.database, { pollIntervalMs: 10 });
      kek = await newKey();
      keys = personalDataKeys(db.database.db as Kysely<unknown>, kek);
      store = personalDataStore(raw, keys);
    });
    afterEach(async () => {
      await raw.close();
      await db.dispose();
    });

    // Each write waits until readers see it: on a shared server readAll lags behind the newest appends.
    const append = async (...args: Parameters<EventStore['append']>) => {
      const result = await store.append(...args);
      await visible(raw, result.position);
      return result;
    };
    const register = (userId: string, email: string, name: string) =>
      append(`identity.User-${userId}`, [
        {
          id: crypto.randomUUID(),
          type: 'UserRegistered',
          data: {
            userId,
            tenantId,
            email,
            name,
            role: 'member',
            status: 'active',
            passwordHash: `$argon2id$${name}`,
            at: '2026-01-01T00:00:00.000Z',
          },
          metadata: { tenantId },
        },
      ]);
    const dataOf = (events: RecordedEvent[]) => events.map((e) => e.data as Record<string, unknown>);

    it('stores only ciphertext for personal fields and gives every reader the clear values', async () => {
      await register(ada, 'ada@example.com', 'Ada');
      await append('tracker.Project-p', [
        {
          id: crypto.randomUUID(),
          type: 'ProjectMemberAdded',
          data: {
            projectId: crypto.randomUUID(),
            tenantId,
            userId: ada,
            email: 'ada@example.com',
            role: 'member',
            at: '2026-01-01T00:00:00.000Z',
            by: bob,
          },
        },
      ]);
      const { rows } = await sql<{ data: string }>`select data::text as data from warden_events`.execute(
        db.database.db,
      );
      const text = rows.map((r) => r.data).join('\n');
      expect(text).not.toContain('ada@example.com');
      expect(text).not.toContain('"Ada"');
      expect(text).not.toContain('$argon2id$');
      const stored = dataOf(await raw.readStream(`identity.User-${ada}`))[0]!;
      expect(isSealed(stored.email) && isSealed(stored.name) && isSealed(stored.passwordHash)).toBe(true);
      // Fields that are not personal stay readable in the table (queries, the audit's ids).
      expect(stored).toMatchObject({ userId: ada, role: 'member', status: 'active' });

      expect(dataOf(await store.readStream(`identity.User-${ada}`))[0]).toMatchObject({
        email: 'ada@example.com',
        name: 'Ada',
        passwordHash: '$argon2id$Ada',
      });
      expect(dataOf(await store.readAll()).map((d) => d.email)).toEqual([
        'ada@example.com',
        'ada@example.com',
      ]);
      const seen: unknown[] = [];
      const stop = new AbortController();
      for await (const event of store.subscribe({ signal: stop.signal, onCaughtUp: () => stop.abort() })) {
        seen.push((event.data as Record<string, unknown>).email);
      }
      expect(seen).toEqual(['ada@example.com', 'ada@example.com']);
    });

    it('after erasure reads the person’s fields as erased on every path, others untouched', async () => {
      await register(ada, 'ada@example.com', 'Ada');
      await register(bob, 'bob@example.com', 'Bob');
      expect(await keys.erase(ada)).toBe(1);
      expect(await keys.erase(ada)).toBe(0);
      expect(dataOf(await store.readStream(`identity.User-${ada}`))[0]).toMatchObject({
        userId: ada,
        email: ERASED,
        name: ERASED,
        passwordHash: ERASED,
        role: 'member',
      });
      expect(dataOf(await store.readAll()).map((d) => [d.email, d.name])).toEqual([
        [ERASED, ERASED],
        ['bob@example.com', 'Bob'],
      ]);
      const seen: unknown[] = [];
      const stop = new AbortController();
      for await (const event of store.subscribe({ signal: stop.signal, onCaughtUp: () => stop.abort() })) {
        seen.push((event.data as Record<string, unknown>).email);
      }
      expect(seen).toEqual([ERASED, 'bob@example.com']);
      // Another process (its own keys object, its own cache) sees the erasure on its next read.
      const elsewhere = personalDataStore(raw, personalDataKeys(db.database.db as Kysely<unknown>, kek));
      expect(dataOf(await elsewhere.readAll()).map((d) => d.email)).toEqual([ERASED, 'bob@example.com']);
      const { rows } = await sql<{ sealed_key: string | null }>`
        select sealed_key from warden_personal_data_keys where subject_id = ${ada}`.execute(db.database.db);
      expect(rows).toEqual([{ sealed_key: null }]);
    });

    it('gives an erased person a new key when they come back; the old events stay erased', async () => {
      const reader = personalDataKeys(db.database.db as Kysely<unknown>, kek);
      await register(ada, 'ada@example.com', 'Ada');
      expect(dataOf(await personalDataStore(raw, reader).readAll())[0]?.email).toBe('ada@example.com');
      await keys.erase(ada);
      await register(ada, 'ada@example.com', 'Ada again');
      // `reader` had the first key unsealed in its cache: existence is still the table's say.
      expect(dataOf(await personalDataStore(raw, reader).readAll()).map((d) => d.name)).toEqual([
        ERASED,
        'Ada again',
      ]);
    });

    it('hands concurrent first uses one key per person', async () => {
      const made = await Promise.all(Array.from({ length: 8 }, () => keys.current(ada, tenantId)));
      expect(new Set(made.map((k) => k.keyId)).size).toBe(1);
    });

    it('fails loudly, never as "erased", with the wrong key-encryption key or altered ciphertext', async () => {
      await register(ada, 'ada@example.com', 'Ada');
      const wrong = personalDataStore(
        raw,
        personalDataKeys(db.database.db as Kysely<unknown>, await newKey()),
      );
      await expect(wrong.readAll()).rejects.toThrow(/WARDEN_KEY_ENCRYPTION_KEY/);
      // The ciphertext of Ada's email swapped into her name: bound to its field, it does not open.
      await sql`update warden_events set data = jsonb_set(data::jsonb, '{name}', (data->'email')::jsonb)::json`.execute(
        db.database.db,
      );
      await expect(store.readAll()).rejects.toThrow(/"name" does not open/);
    });

    it('passes other events through untouched, and strings shaped like ciphertext stay strings', async () => {
      await append('tenancy.Tenant-t', [
        {
          id: crypto.randomUUID(),
          type: 'TenantRenamed',
          data: { tenantId, name: 'Acme', at: '2026-01-01T00:00:00.000Z' },
        },
      ]);
      await register(ada, '{"$personal":{"key":"x","sealed":"v1.a.b"}}@example.com', '{"$personal":1}');
      const [renamed, registered] = dataOf(await store.readAll());
      expect(renamed).toEqual({ tenantId, name: 'Acme', at: '2026-01-01T00:00:00.000Z' });
      expect(registered).toMatchObject({ name: '{"$personal":1}' });
    });
  });
}
