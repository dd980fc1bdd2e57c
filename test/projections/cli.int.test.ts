import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectionsCommand } from '../../src/cli/projections.ts';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { ProjectionEngine, shadowSchemaName } from '../../src/projections/engine/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { visible } from '../support/visibility.ts';
import { appendMany, counted, streamCounts } from './stream-counts.ts';

/** What the command printed (not a terminal: the progress bar writes plain lines). */
function capture() {
  const chunks: string[] = [];
  const output = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { output, text: () => chunks.join('') };
}

for (const kind of databaseKinds) {
  describe(`warden projections (${kind.name})`, () => {
    let test: TestDatabase;
    let store: EventStore;
    let engine: ProjectionEngine;

    beforeEach(async () => {
      test = await kind.fresh();
      store = postgresEventStore(test.database, { pollIntervalMs: 20 });
      const isPoison = (e: RecordedEvent) => e.streamId === 'test.Poison-cli';
      engine = new ProjectionEngine({
        database: test.database,
        store,
        pollIntervalMs: 20,
        projections: [
          streamCounts(),
          streamCounts({ name: 'failingCounts', table: 'failing_counts', failOn: isPoison }),
        ],
      });
    });
    afterEach(async () => {
      await engine.stop();
      await test.dispose();
    });

    it('list prints each projection with state, position, lag and last error', async () => {
      await engine.start();
      await appendMany(store, 2, 3);
      const poison = await store.append('test.Poison-cli', [counted()]);
      expect(await engine.waitFor('streamCounts', poison.position, 30_000)).toBe(true);
      expect(await engine.waitFor('failingCounts', poison.position, 30_000)).toBe(false);
      const [event] = await store.readStream('test.Poison-cli');

      const { output, text } = capture();
      expect(await projectionsCommand(['list'], { engine, output })).toBe(0);
      const lines = text().trimEnd().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+VERSION\s+STATE\s+POSITION\s+LAG\s+LAST ERROR$/);
      expect(lines[1]).toMatch(new RegExp(`^streamCounts\\s+1\\s+live\\s+${poison.position}\\s+0\\s+-$`));
      expect(lines[2]).toMatch(/^failingCounts\s+1\s+failed\s+\d+\s+1\s+cannot count/);
      expect(lines[2]).toContain(`event ${event!.id} at position ${poison.position}`);
    });

    it('rebuild shows progress and ends with the events and events/s', async () => {
      await appendMany(store, 10, 100);
      const { output, text } = capture();
      expect(await projectionsCommand(['rebuild', 'streamCounts'], { engine, output })).toBe(0);
      expect(text()).toMatch(/streamCounts \[[█░]+\] 100% \| 1000\/1000 events/);
      expect(text().trimEnd().split('\n').at(-1)).toMatch(
        /^rebuilt streamCounts: 1,000 events in \d+\.\d\d s \([\d,]+ events\/s\)$/,
      );
    });

    it('names the failing event when a rebuild fails, and leaves no shadow or lease behind', async () => {
      await appendMany(store, 1, 2);
      await visible(store, (await store.append('test.Poison-cli', [counted()])).position);
      const { output, text } = capture();
      expect(await projectionsCommand(['rebuild', 'failingCounts'], { engine, output })).toBe(1);
      const [event] = await store.readStream('test.Poison-cli');
      expect(text()).toContain(`rebuild of "failingCounts" failed: cannot count event ${event!.id}`);
      expect(text()).toContain('the live tables are unchanged');
      const shadow = shadowSchemaName(test.database.schema, 'failingCounts');
      const { rows } = await sql`select 1 from pg_namespace where nspname = ${shadow}`.execute(
        test.database.db,
      );
      expect(rows).toEqual([]);
      expect((await engine.status())[1]).toMatchObject({ name: 'failingCounts', rebuild: null });
      // The lease is free again: the next attempt runs (and fails the same way).
      expect(await projectionsCommand(['rebuild', 'failingCounts'], { engine, output })).toBe(1);
    });

    it('answers an unknown projection with exit code 1 and bad usage with 2', async () => {
      const unknown = capture();
      expect(await projectionsCommand(['rebuild', 'nope'], { engine, output: unknown.output })).toBe(1);
      expect(unknown.text()).toContain('no projection named "nope"');
      const usage = capture();
      expect(await projectionsCommand(['rebuild'], { engine, output: usage.output })).toBe(2);
      expect(usage.text()).toContain('warden projections rebuild <name>');
    });
  });
}
