import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';

const event = (type: string, data: unknown) => ({
  id: randomUUID(),
  type,
  data,
  metadata: { tenantId: randomUUID(), actorId: 'tester', correlationId: randomUUID() },
});

describe.skipIf(!databaseUrl)('PostgreSQL append', () => {
  it('is sent as a named prepared statement, parsed once per connection', async () => {
    // One connection, so the statement this append prepared is visible to the next query.
    const { database, dispose } = await freshPostgres(1);
    try {
      const store = postgresEventStore(database);
      await store.append('test.Thing-1', [event('ThingMade', { n: 1 })], { expected: 'no_stream' });
      await store.append('test.Thing-1', [event('ThingChanged', { n: 2 })], { expected: 0 });
      const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(
        database.db,
      );
      expect(rows.map((r) => r.name)).toContain('warden_append');
    } finally {
      await dispose();
    }
  });

  it('stores each event of a batch with its own data and metadata text, in order', async () => {
    const { database, dispose } = await freshPostgres(2);
    try {
      const store = postgresEventStore(database);
      const tricky = ['a,b', '"quoted" \\ backslash', '{not an object}', 'é ✓', '[1,2]'];
      const batch = tricky.map((text, i) => event('ThingNoted', { text, i, nested: { list: [text] } }));
      await store.append('test.Thing-2', batch, { expected: 'no_stream' });
      const read = await store.readStream('test.Thing-2');
      expect(read.map((e) => e.data)).toEqual(batch.map((e) => e.data));
      expect(read.map((e) => e.metadata.correlationId)).toEqual(batch.map((e) => e.metadata.correlationId));
      expect(read.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await dispose();
    }
  });
});
