import { describe } from 'vitest';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { databaseKinds } from '../support/databases.ts';
import { eventStoreContract } from './eventstore.contract.ts';

// PGlite always; a real PostgreSQL server too when DATABASE_URL is set.
for (const kind of databaseKinds) {
  describe(kind.name, () => {
    eventStoreContract(kind.name, async () => {
      const { database, dispose } = await kind.fresh();
      return {
        store: postgresEventStore(database, { pollIntervalMs: 20 }),
        reopen: async () => postgresEventStore(database, { pollIntervalMs: 20 }),
        dispose,
      };
    });
  });
}
