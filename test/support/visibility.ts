import { type QueryExecutorProvider, sql } from 'kysely';
import type { EventStore, ReadAllOptions, RecordedEvent } from '../../src/eventstore/port.ts';

/**
 * Waits until readers can see `position`. Readers stop below the oldest running transaction of the
 * whole server, so a long transaction of another test on a shared PostgreSQL delays visibility:
 * `headPosition()` then lags behind the newest appends, and a test that reads "everything" right
 * after writing may miss its own last events.
 */
export async function visible(store: EventStore, position: bigint, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await store.headPosition()) < position) {
    if (Date.now() > deadline) throw new Error(`position ${position} not visible after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The last position written to this test's own event table, committed or not yet visible to readers. */
export async function lastWritten(db: QueryExecutorProvider): Promise<bigint> {
  const { rows } = await sql<{
    head: string | null;
  }>`select max(position) as head from warden_events`.execute(db);
  return BigInt(rows[0]?.head ?? 0);
}

/**
 * `readAll` of everything written so far, own last writes included: it first waits until the last
 * position written to `db`'s event table is visible (see `visible`).
 */
export async function readAllWritten(
  store: EventStore,
  db: QueryExecutorProvider,
  options?: ReadAllOptions,
): Promise<RecordedEvent[]> {
  await visible(store, await lastWritten(db));
  return store.readAll(options);
}

/**
 * `expect.poll` options for a change made in one process to reach another's caches: many sync
 * intervals, not one. A process learns of another's appends by reading the log, which shows an
 * append only once every older transaction on the server has ended (see `visible`), so on a
 * PostgreSQL shared with other suites one interval can pass without it. Still far inside the caches'
 * own lifetimes (60 s unless a test sets less), so the sync is what brings the change, not an expiry.
 */
export const acrossProcesses = { timeout: 15_000, interval: 50 } as const;
