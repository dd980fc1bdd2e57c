import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { toolsEventSchemas } from '../../src/commands/tools/events.ts';
import type { Database } from '../../src/db/database.ts';
import type { EventStore, NewEvent } from '../../src/eventstore/port.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';
import { executionList } from '../../src/projections/tools/execution-list.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { liveAndRebuilt } from '../support/rebuild.ts';

/*
 * The execution list folds an execution's events into its row, each guarded by revision: one folded
 * before an earlier one of its execution makes the earlier one a no-op (a run completed, never started).
 * A rebuild on PostgreSQL folds executions on two writers (`entityOf`); each keeps its events in order.
 */

const EXECUTIONS = 30;

/** The same runs on every call (fixed ids), so two databases can hold the same histories. */
const tenantId = randomUUID();
const ids = Array.from({ length: EXECUTIONS }, () => randomUUID());

async function appendHistories(store: EventStore): Promise<void> {
  const event = (
    type: keyof typeof toolsEventSchemas,
    i: number,
    data: Record<string, unknown>,
  ): NewEvent => {
    const full = {
      executionId: ids[i],
      tenantId,
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      ...data,
    };
    toolsEventSchemas[type].parse(full);
    return { id: randomUUID(), type, data: full, metadata: { tenantId, actorId: 'test' } };
  };
  // Three rounds over every execution, so each one's events lie pages apart.
  for (const [i, id] of ids.entries()) {
    await store.append(
      `tools.Execution-${id}`,
      [
        event('ExecutionQueued', i, {
          toolId: 'hash-identify',
          toolVersion: '1',
          actorId: 'test',
          target: null,
          address: null,
          parameters: { hash: 'abc' },
          timeoutMs: 1000,
          rerunOf: null,
        }),
      ],
      { expected: 'no_stream' },
    );
  }
  for (const [i, id] of ids.entries()) {
    await store.append(
      `tools.Execution-${id}`,
      [
        event('ExecutionStarted', i, { worker: 'w1' }),
        event('ExecutionProgressed', i, { progress: 0.5 }),
        // An event that changes no column still moves the row's revision.
        event('ExecutionCancelRequested', i, { by: 'test' }),
      ],
      { expected: 0 },
    );
  }
  for (const [i, id] of ids.entries()) {
    const ended =
      i % 3 === 0
        ? event('ExecutionFailed', i, { exitCode: 2, error: 'no', outputBytes: 3, truncated: false })
        : event('ExecutionCompleted', i, { exitCode: 0, result: {}, outputBytes: 3, truncated: false });
    await store.append(`tools.Execution-${id}`, [ended], { expected: 3 });
  }
}

for (const kind of databaseKinds) {
  describe(`execution list rebuild (${kind.name})`, () => {
    let test: TestDatabase | undefined;
    afterEach(async () => {
      await test?.dispose();
    });

    it('rebuilds in pages of 3 events to the rows the live runner built (on PostgreSQL, folded on two writers by execution)', async () => {
      test = await kind.fresh();
      const { database } = test;
      const { live, rebuilt } = await liveAndRebuilt(
        database,
        executionList,
        appendHistories,
        async () =>
          (
            await sql<
              Record<string, unknown>
            >`select id, status, progress, exit_code, started_at, finished_at, revision, position from tool_execution_list order by id`.execute(
              database.db,
            )
          ).rows,
      );
      expect(live).toHaveLength(EXECUTIONS);
      expect(live.filter((row) => row.started_at === null)).toEqual([]);
      expect(rebuilt).toEqual(live);
    });

    it('folds a batch to the rows apply leaves event by event (one read for the runs with several events, none for one)', async () => {
      test = await kind.fresh();
      const other = await kind.fresh();
      // Positions differ between databases: the rows are compared without them.
      const rows = (database: Database) => async () =>
        (
          await sql<
            Record<string, unknown>
          >`select id, tenant_id, tool_id, status, progress, exit_code, queued_at, started_at, finished_at, revision from tool_execution_list order by id`.execute(
            database.db,
          )
        ).rows;
      try {
        const { apply, name, version, types, tables, createTables } = executionList;
        const perEvent = await liveAndRebuilt(
          other.database,
          { name, version, types, tables, createTables, apply } as Projection,
          appendHistories,
          rows(other.database),
        );
        const batched = await liveAndRebuilt(
          test.database,
          executionList,
          appendHistories,
          rows(test.database),
        );
        expect(perEvent.live).toHaveLength(EXECUTIONS);
        expect(perEvent.live.every((row) => row.revision === 4)).toBe(true);
        expect(batched.live).toEqual(perEvent.live);
        expect(batched.rebuilt).toEqual(perEvent.live);
      } finally {
        await other.dispose();
      }
    });
  });
}
