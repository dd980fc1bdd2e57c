import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayStream } from '../../src/audit/replay.ts';
import type { Decider } from '../../src/commands/kernel/decider.ts';
import { handle, load } from '../../src/commands/kernel/handle.ts';
import { aggregate, aggregateRegistry, aggregates } from '../../src/commands/registry/index.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { type Upcaster, upcasterRegistry, upcastingStore } from '../../src/eventstore/upcasting.ts';
import { ProjectionEngine } from '../../src/projections/engine/engine.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';

/**
 * A contact whose `ContactNamed` event evolves: v1 stored one `name`, v2 stores `first` and `last`.
 * The v1 era writes with v1 code; then v2 ships with an upcaster, and every reader sees v2 only.
 */
type NamedV1 = { type: 'ContactNamed'; data: { contactId: string; name: string } };
type NamedV2 = { type: 'ContactNamed'; data: { contactId: string; first: string; last: string } };
type Rename = { type: 'Rename'; contactId: string; first: string; last: string };
interface Contact {
  first: string;
  last: string;
  renames: number;
}

const v1Decider: Decider<{ contactId: string; name: string }, NamedV1, { name: string }> = {
  initialState: () => ({ name: '' }),
  decide: (c) => [{ type: 'ContactNamed', data: { contactId: c.contactId, name: c.name } }],
  evolve: (_s, e) => ({ name: e.data.name }),
};
const v2Decider: Decider<Rename, NamedV2, Contact> = {
  initialState: () => ({ first: '', last: '', renames: 0 }),
  decide: (c) => [{ type: 'ContactNamed', data: { contactId: c.contactId, first: c.first, last: c.last } }],
  evolve: (s, e) => ({ first: e.data.first, last: e.data.last, renames: s.renames + 1 }),
};

/** Pure: the last word is the family name. */
const splitName: Upcaster = {
  type: 'ContactNamed',
  from: 1,
  upcast: (data) => {
    const { contactId, name } = data as NamedV1['data'];
    const words = name.trim().split(/\s+/);
    return {
      contactId,
      first: words.slice(0, -1).join(' ') || words[0]!,
      last: words.length > 1 ? words.at(-1)! : '',
    };
  },
};

type ContactTables = { contact_names: { contact_id: string; first: string; last: string } };
const contactNames: Projection<ContactTables> = {
  name: 'contactNames',
  version: 1,
  types: ['ContactNamed'],
  tables: ['contact_names'],
  async createTables(db) {
    await db.schema
      .createTable('contact_names')
      .addColumn('contact_id', 'text', (c) => c.primaryKey())
      .addColumn('first', 'text', (c) => c.notNull())
      .addColumn('last', 'text', (c) => c.notNull())
      .execute();
  },
  async apply(event: RecordedEvent, db) {
    const { contactId, first, last } = event.data as NamedV2['data'];
    if (first === undefined) throw new Error('a v1 event reached the v2 projection');
    await db
      .insertInto('contact_names')
      .values({ contact_id: contactId, first, last })
      .onConflict((oc) => oc.column('contact_id').doUpdateSet({ first, last }))
      .execute();
  },
};

for (const kind of databaseKinds) {
  describe(`evolving events: v1 history read as v2 (${kind.name})`, () => {
    let db: TestDatabase;
    const ids = [crypto.randomUUID(), crypto.randomUUID()];
    const stream = (i: number) => `demo.Contact-${ids[i]}`;
    const ctx = { metadata: { requestId: 'upcast-test' } };

    beforeAll(async () => {
      db = await kind.fresh();
      // The v1 era: v1 code, no upcasters; events are stamped version 1.
      const v1Store = upcastingStore(postgresEventStore(db.database), upcasterRegistry([]));
      await handle(v1Store, stream(0), v1Decider, { contactId: ids[0]!, name: 'Ada King Lovelace' }, ctx);
      await handle(v1Store, stream(0), v1Decider, { contactId: ids[0]!, name: 'Ada Lovelace' }, ctx);
      await handle(v1Store, stream(1), v1Decider, { contactId: ids[1]!, name: 'Grace Hopper' }, ctx);
    });
    afterAll(async () => {
      await db.dispose();
    });

    const v2Store = () => upcastingStore(postgresEventStore(db.database), upcasterRegistry([splitName]));

    it('aggregates load mixed v1 and v2 history and decide on it', async () => {
      const store = v2Store();
      const result = await handle(
        store,
        stream(0),
        v2Decider,
        { type: 'Rename', contactId: ids[0]!, first: 'Augusta Ada', last: 'King' },
        ctx,
      );
      expect(result.revision).toBe(2);
      const loaded = await load(store, stream(0), v2Decider);
      expect(loaded.state).toEqual({ first: 'Augusta Ada', last: 'King', renames: 3 });
      expect(loaded.events.map((e) => e.metadata.schemaVersion)).toEqual([2, 2, 2]);
      expect((await load(store, stream(1), v2Decider)).state).toEqual({
        first: 'Grace',
        last: 'Hopper',
        renames: 1,
      });
    });

    it('replay folds the old events with the new evolve', async () => {
      const registry = aggregateRegistry([...aggregates, aggregate('demo.Contact', v2Decider)]);
      const outcome = await replayStream(
        v2Store(),
        registry,
        stream(0),
        { kind: 'revision', revision: 0 },
        { steps: true },
      );
      expect(outcome.ok && outcome.result.state).toEqual({ first: 'Ada King', last: 'Lovelace', renames: 1 });
    });

    it('projections build from v1 history, live and on rebuild, never seeing a v1 shape', async () => {
      const store = v2Store();
      const engine = new ProjectionEngine({
        database: db.database,
        store,
        projections: [contactNames as unknown as Projection],
        pollIntervalMs: 10,
      });
      await engine.start();
      try {
        // The last position written, not headPosition: on a shared server that lags behind the last appends.
        const last = await lastWritten(db.database.db);
        expect(await engine.waitFor('contactNames', last, 30_000)).toBe(true);
        const rows = () =>
          db.database.db
            .withTables<ContactTables>()
            .selectFrom('contact_names')
            .select(['contact_id', 'first', 'last'])
            .orderBy('first')
            .execute();
        const expected = [
          { contact_id: ids[0], first: 'Augusta Ada', last: 'King' },
          { contact_id: ids[1], first: 'Grace', last: 'Hopper' },
        ];
        expect(await rows()).toEqual(expected);
        expect((await engine.status())[0]?.state).toBe('live');
        await engine.rebuild('contactNames');
        expect(await rows()).toEqual(expected);
      } finally {
        await engine.stop();
      }
    });

    it('stored events are never rewritten: v1 rows keep their data and version', async () => {
      const { rows } = await sql<{ revision: string; data: unknown; metadata: unknown }>`
        select revision, data::text as data, metadata::text as metadata from warden_events
        where stream_id = ${stream(0)} order by revision`.execute(db.database.db);
      const parsed = rows.map((r) => ({
        data: JSON.parse(String(r.data)),
        version: JSON.parse(String(r.metadata)).schemaVersion,
      }));
      expect(parsed).toEqual([
        { data: { contactId: ids[0], name: 'Ada King Lovelace' }, version: 1 },
        { data: { contactId: ids[0], name: 'Ada Lovelace' }, version: 1 },
        { data: { contactId: ids[0], first: 'Augusta Ada', last: 'King' }, version: 2 },
      ]);
    });
  });
}
