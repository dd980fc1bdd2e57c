import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandStore } from '../../src/commands/kernel/index.ts';
import {
  changeExecution,
  changeKnownExecution,
  executionStreamId,
  findExecution,
  requestExecution,
} from '../../src/commands/tools/index.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { createLogger } from '../../src/logger.ts';
import { enqueue, JOBS_CHANNEL, type JobTables, viewAs } from '../../src/processes/runtime/index.ts';
import { advisoryLookup, runExecution } from '../../src/processes/tools/index.ts';
import { catalog, processRunner, readFrames, type ToolOutputTables } from '../../src/tools/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

/** The store, counting the reads and appends of each stream that go through it. */
function countingStore(store: EventStore) {
  const reads = new Map<string, number>();
  const appends = new Map<string, number>();
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const counted: EventStore = {
    ...store,
    readStream: (streamId, options) => {
      bump(reads, streamId);
      return store.readStream(streamId, options);
    },
    append: (streamId, events, options) => {
      bump(appends, streamId);
      return store.append(streamId, events, options);
    },
  };
  return { store: counted, reads, appends };
}

/**
 * Each round trip on the way from a request to a run's end is time a client waits (bench:tools): a
 * request is recorded with one append, a run reads its execution once and appends its start and end
 * on the state in hand, a job and its notice go in one statement. A state that went stale meanwhile
 * is decided again on the stream as it is, so the shortcut never changes an outcome.
 */
for (const kind of databaseKinds) {
  describe(`tool runs' round trips (${kind.name})`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    const request = async (store: CommandStore, toolId = 'hash-identify') => {
      const tenant = await t.tenant();
      const executionId = crypto.randomUUID();
      const command = {
        type: 'RequestExecution' as const,
        executionId,
        tenantId: tenant.id,
        toolId,
        toolVersion: '1.0.0',
        actorId: 'user-1',
        target: null,
        address: null,
        parameters: { hash: 'd41d8cd98f00b204e9800998ecf8427e' },
        timeoutMs: 5000,
        rerunOf: null,
        at: new Date().toISOString(),
      };
      const context = { metadata: { tenantId: tenant.id, actorId: 'user-1' } };
      const result = await requestExecution(store, command, context);
      return { tenantId: tenant.id, executionId, command, context, result };
    };

    it('records a request with one append and no read; the same request again appends nothing', async () => {
      const counting = countingStore(t.store);
      const { executionId, command, context, result } = await request(counting.store);
      const stream = executionStreamId(executionId);
      expect(result.state.status).toBe('queued');
      expect(result.revision).toBe(0);
      expect(counting.appends.get(stream)).toBe(1);
      expect(counting.reads.get(stream) ?? 0).toBe(0);
      const again = await requestExecution(counting.store, command, context);
      expect(again.events).toEqual([]);
      expect(again.revision).toBe(0);
      expect(await t.store.readStream(stream)).toHaveLength(1);
    });

    it('runs an execution reading its stream once: start and end are appended on the state in hand', async () => {
      const { tenantId, executionId } = await request(t.store);
      const counting = countingStore(t.store);
      await runExecution(
        {
          store: counting.store,
          db: viewAs<ToolOutputTables>(t.database.db),
          catalog: catalog(),
          processes: processRunner(),
          advisories: advisoryLookup(t.database.db as never),
          clock: () => new Date(),
          logger: createLogger('silent'),
          worker: 'round-trips',
        },
        tenantId,
        { executionId },
        new AbortController().signal,
        () => () => undefined,
      );
      const stream = executionStreamId(executionId);
      expect((await findExecution(t.store, tenantId, executionId))?.state.status).toBe('completed');
      expect(counting.reads.get(stream)).toBe(1);
      expect(counting.appends.get(stream)).toBe(2);
      // The `running` frame, queued before the tool ran, still comes first and the final status last.
      const frames = await readFrames(viewAs<ToolOutputTables>(t.database.db), executionId, 0);
      expect(JSON.parse(frames[0]!.data)).toMatchObject({ status: 'running' });
      expect(JSON.parse(frames.at(-1)!.data)).toMatchObject({ status: 'completed' });
    });

    it('decides again on the stream when the state in hand went stale (a cancel came in): the run never starts', async () => {
      const { tenantId, executionId, context } = await request(t.store);
      const held = await findExecution(t.store, tenantId, executionId);
      await changeExecution(
        t.store,
        tenantId,
        executionId,
        { type: 'CancelExecution', by: 'user-1', at: new Date().toISOString() },
        context,
      );
      const started = await changeKnownExecution(
        t.store,
        held!,
        { type: 'StartExecution', worker: 'w1', at: new Date().toISOString() },
        context,
      );
      expect(started.events).toEqual([]);
      expect(started.state.status).toBe('cancelled');
      expect((await t.store.readStream(executionStreamId(executionId))).map((e) => e.type)).toEqual([
        'ExecutionQueued',
        'ExecutionCancelled',
      ]);
    });

    it('queues a job and announces it in one statement, the notice reaching a listener', async () => {
      let statements = 0;
      // Counted as results come back: one per statement sent (a builder inside another is compiled, not sent).
      const counter: KyselyPlugin = {
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          statements++;
          return args.result;
        },
      };
      const heard: string[] = [];
      const stop = await t.database.listen(JOBS_CHANNEL, (payload) => heard.push(payload));
      try {
        const db = viewAs<JobTables>(t.database.db).withPlugin(counter);
        const id = crypto.randomUUID();
        await enqueue(db, [{ id, queue: 'round-trips', kind: 'k', subject: 's' }]);
        expect(statements).toBe(1);
        const row = await viewAs<JobTables>(t.database.db)
          .selectFrom('warden_jobs')
          .select('queue')
          .where('id', '=', id)
          .executeTakeFirst();
        expect(row?.queue).toBe('round-trips');
        const deadline = Date.now() + 5000;
        while (!heard.includes(`${t.database.schema}:round-trips`) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 10));
        expect(heard).toContain(`${t.database.schema}:round-trips`);
      } finally {
        await stop();
      }
    });

    it('announces a job once: queueing it again (the process manager after the request) wakes no runner', async () => {
      const heard: string[] = [];
      const stop = await t.database.listen(JOBS_CHANNEL, (payload) => heard.push(payload));
      try {
        const db = viewAs<JobTables>(t.database.db);
        const job = { id: crypto.randomUUID(), queue: 'queued-twice', kind: 'k', subject: 's' };
        await enqueue(db, [job]);
        await enqueue(db, [job]);
        // Notices arrive in commit order: once this one is heard, any of the second enqueue was too.
        await enqueue(db, [{ id: crypto.randomUUID(), queue: 'after-them', kind: 'k', subject: 's' }]);
        const deadline = Date.now() + 5000;
        while (!heard.includes(`${t.database.schema}:after-them`) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 10));
        expect(heard).toContain(`${t.database.schema}:after-them`);
        expect(heard.filter((p) => p === `${t.database.schema}:queued-twice`)).toHaveLength(1);
      } finally {
        await stop();
      }
    });
  });
}
