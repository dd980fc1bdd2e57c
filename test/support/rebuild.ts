import type { Database } from '../../src/db/database.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { ProjectionEngine } from '../../src/projections/engine/index.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';
import { lastWritten } from './visibility.ts';

/**
 * Builds `projection` live over what `append` writes, then rebuilds it in pages of `pageSize` events
 * (on PostgreSQL over the engine's shadow writers), and answers what `snapshot` read after each: a
 * rebuild must leave the rows the live runner built.
 */
export async function liveAndRebuilt<T>(
  database: Database,
  projection: Projection,
  append: (store: EventStore) => Promise<void>,
  snapshot: () => Promise<T>,
  pageSize = 3,
): Promise<{ live: T; rebuilt: T }> {
  const store = postgresEventStore(database, { pollIntervalMs: 20 });
  await append(store);
  // The last event written, not `headPosition()`: on a shared PostgreSQL another test's open
  // transaction holds the visible head back, and a wait for that head ends before the last events.
  const head = await lastWritten(database.db);
  const engine = new ProjectionEngine({
    database,
    store,
    projections: [projection],
    pollIntervalMs: 20,
    rebuildBatchSize: pageSize,
  });
  try {
    await engine.start();
    if (!(await engine.waitFor(projection.name, head, 30_000))) {
      throw new Error(`${projection.name} did not catch up: ${JSON.stringify(await engine.status())}`);
    }
    const live = await snapshot();
    await engine.rebuild(projection.name);
    return { live, rebuilt: await snapshot() };
  } finally {
    await engine.stop();
  }
}
