import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestExecution } from '../../src/commands/tools/index.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { serviceWorkers } from '../processes/support.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/databases.ts';
import { toolTenant, toolWorker, waitForStatus } from './support.ts';

for (const kind of databaseKinds) {
  describe(`an execution whose job was never queued (${kind.name})`, () => {
    let t: TestApp;
    let workers: Worker;
    let tools: ToolJobs;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      workers = await serviceWorkers(t);
      tools = toolWorker(t);
    });
    afterAll(async () => {
      await tools?.stop(1000);
      await workers?.stop();
      await t?.dispose();
    });

    it('still runs: the toolExecutions process manager queues its job from the ExecutionQueued event', async () => {
      const { operator } = await toolTenant(t);
      const executionId = crypto.randomUUID();
      // As if the request had died between recording the execution and queueing its job.
      await requestExecution(
        t.store,
        {
          type: 'RequestExecution',
          executionId,
          tenantId: operator.tenantId,
          toolId: 'hash-identify',
          toolVersion: '1.0.0',
          actorId: operator.userId,
          target: null,
          address: null,
          parameters: { hash: 'd41d8cd98f00b204e9800998ecf8427e' },
          timeoutMs: 5000,
          rerunOf: null,
          at: new Date().toISOString(),
        },
        { metadata: { tenantId: operator.tenantId, actorId: operator.userId } },
      );
      const done = await waitForStatus(t, operator, executionId, undefined, 30_000);
      expect(done.status).toBe('completed');
      expect(done.result.candidates[0].name).toBe('MD5');
    });
  });
}
