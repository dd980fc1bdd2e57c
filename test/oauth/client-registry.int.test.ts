import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientStreamId, handleClientCommand } from '../../src/commands/oauth/index.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { clientRegistry } from '../../src/oauth/clients.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { acrossProcesses } from '../support/visibility.ts';
import { machineClientSettings as settings } from './support.ts';

// The OAuth client cache of each process: entries live long (a minute here), yet a change made in
// any process reaches every cache within the sync interval, because each reads the log's client
// events that often, and a change made in the process itself at once. "Elsewhere" is a second store
// on its own database handle: its appends are announced to its own listeners only, as another
// process's would be.
const SYNC_MS = 200;
const LONG_TTL_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The store, counting the stream reads per stream (a cache miss is one). */
function counting(store: EventStore) {
  const reads = new Map<string, number>();
  const counted: EventStore = Object.create(store);
  counted.readStream = (streamId, options) => {
    reads.set(streamId, (reads.get(streamId) ?? 0) + 1);
    return store.readStream(streamId, options);
  };
  return { store: counted, readsOf: (clientId: string) => reads.get(clientStreamId(clientId)) ?? 0 };
}

for (const kind of databaseKinds) {
  describe(`OAuth client cache across processes (${kind.name})`, () => {
    let db: TestDatabase;
    let store: EventStore;
    let elsewhere: EventStore;
    const tenantId = randomUUID();
    beforeAll(async () => {
      db = await kind.fresh();
      store = postgresEventStore(db.database);
      elsewhere = postgresEventStore({ ...db.database });
    });
    afterAll(async () => {
      await store?.close();
      await db?.dispose();
    });

    const at = () => new Date().toISOString();
    const context = () => ({ metadata: { tenantId } });
    const register = async (secretHash = 'a'.repeat(43), on = elsewhere) => {
      const clientId = randomUUID();
      const command = {
        type: 'RegisterClient' as const,
        clientId,
        tenantId,
        clientType: 'confidential' as const,
        settings,
        secretHash,
        grantable: ['packages:read'],
        at: at(),
      };
      await handleClientCommand(on, command, context());
      return clientId;
    };
    const rotate = (clientId: string, secretHash: string, on = elsewhere) =>
      handleClientCommand(
        on,
        { type: 'RotateClientSecret', clientId, tenantId, secretHash, previousValidUntil: null, at: at() },
        context(),
      );
    const registry = (on: EventStore, clock?: () => Date) =>
      clientRegistry({ store: on, ttlMs: LONG_TTL_MS, syncMs: SYNC_MS, ...(clock ? { clock } : {}) });
    const secretOf = async (on: ReturnType<typeof registry>, clientId: string) =>
      (await on.get(tenantId, clientId))?.secretHash;

    it('a secret rotated and a client deleted in another process reach a long-lived cache by its sync, long before its TTL', async () => {
      const here = registry(store);
      const clientId = await register('b'.repeat(43));
      expect((await here.get(tenantId, clientId))?.secretHash).toBe('b'.repeat(43));

      // "The other process" changes the client: it writes the events; this registry is never told.
      await rotate(clientId, 'c'.repeat(43));
      await expect.poll(() => secretOf(here, clientId), acrossProcesses).toBe('c'.repeat(43));

      await handleClientCommand(elsewhere, { type: 'DeleteClient', clientId, tenantId, at: at() }, context());
      await expect.poll(() => here.get(tenantId, clientId), acrossProcesses).toBeUndefined();
    });

    it('a change made in this process is read at once, not after the sync interval', async () => {
      const here = registry(store);
      const clientId = await register('g'.repeat(43), store);
      expect((await here.get(tenantId, clientId))?.secretHash).toBe('g'.repeat(43));
      await rotate(clientId, 'h'.repeat(43), store);
      expect((await here.get(tenantId, clientId))?.secretHash).toBe('h'.repeat(43));
    });

    it('a cached client is read once while nothing changes it, however often it is asked for and whatever else changes', async () => {
      const { store: countedStore, readsOf } = counting(store);
      const here = registry(countedStore);
      const clientId = await register();
      for (let i = 0; i < 30; i++) {
        expect((await here.get(tenantId, clientId))?.status).toBe('active');
        // Other clients change meanwhile: their events are read and drop only their own entries.
        if (i % 10 === 0) await rotate(await register(), 'd'.repeat(43));
        await sleep(SYNC_MS / 10);
      }
      expect(readsOf(clientId)).toBe(1);
      // A made-up client is cached as "none" too: asking again does not read its stream again.
      const unknown = randomUUID();
      expect(await here.get(tenantId, unknown)).toBeUndefined();
      expect(await here.get(tenantId, unknown)).toBeUndefined();
      expect(readsOf(unknown)).toBe(1);
    });

    it('finds its change behind more changes than one page of the log holds', async () => {
      const here = registry(store);
      const clientId = await register('e'.repeat(43));
      expect((await here.get(tenantId, clientId))?.secretHash).toBe('e'.repeat(43));
      // 520 other clients registered, then ours rotated: the sync reads two pages of 500 to find it.
      for (let i = 0; i < 52; i++) await Promise.all(Array.from({ length: 10 }, () => register()));
      await rotate(clientId, 'f'.repeat(43));
      await expect.poll(() => secretOf(here, clientId), acrossProcesses).toBe('f'.repeat(43));
    });

    it('an entry still expires after the cache TTL (the backstop when the log is held back)', async () => {
      let now = Date.now();
      const { store: countedStore, readsOf } = counting(store);
      const here = registry(countedStore, () => new Date(now));
      const clientId = await register();
      await here.get(tenantId, clientId);
      now += LONG_TTL_MS - 1;
      await here.get(tenantId, clientId);
      expect(readsOf(clientId)).toBe(1);
      now += 2;
      await here.get(tenantId, clientId);
      expect(readsOf(clientId)).toBe(2);
    });
  });
}
