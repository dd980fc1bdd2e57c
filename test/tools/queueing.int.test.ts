import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestExecution } from '../../src/commands/tools/index.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { serviceWorkers } from '../processes/support.ts';
import type { LooseJson } from '../support/app.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { execute, silentServer, toolTenant, toolWorker, waitForStatus } from './support.ts';

for (const kind of databaseKinds) {
  describe(`queueing tool jobs (${kind.name})`, () => {
    let t: TestApp;
    let workers: Worker;
    let tools: ToolJobs;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      workers = await serviceWorkers(t);
      // No override: each tenant's plan decides how many of its runs go at once.
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

    it('holds a tenant to its plan’s concurrency (Free: 1): a second run waits queued until the first ends; Enterprise runs both', async () => {
      const { operator: roomy } = await toolTenant(t, 'enterprise');
      const wide = await silentServer();
      try {
        const slow = (
          (await (
            await execute(t, roomy, 'tls-inspect', { host: '127.0.0.1', port: wide.port })
          ).json()) as LooseJson
        ).id;
        await waitForStatus(t, roomy, slow, ['running']);
        const quick = (
          (await (await execute(t, roomy, 'hash-identify', { hash: 'abc' })).json()) as LooseJson
        ).id;
        expect((await waitForStatus(t, roomy, quick)).status).toBe('completed');
        expect((await waitForStatus(t, roomy, slow, ['running', 'completed', 'failed'])).status).toBe(
          'running',
        );
        await t.request(`/v1/executions/${slow}`, {
          method: 'DELETE',
          token: roomy.token,
          tenant: roomy.tenantSlug,
        });
      } finally {
        await wide.close();
      }
      const { operator } = await toolTenant(t, 'free');
      const silent = await silentServer();
      try {
        const first = (
          (await (
            await execute(t, operator, 'tls-inspect', { host: '127.0.0.1', port: silent.port })
          ).json()) as LooseJson
        ).id;
        await waitForStatus(t, operator, first, ['running']);
        const second = (
          (await (await execute(t, operator, 'hash-identify', { hash: 'abc' })).json()) as LooseJson
        ).id;
        await new Promise((r) => setTimeout(r, 1500));
        expect((await waitForStatus(t, operator, second, ['queued', 'running', 'completed'])).status).toBe(
          'queued',
        );
        await t.request(`/v1/executions/${first}`, {
          method: 'DELETE',
          token: operator.token,
          tenant: operator.tenantSlug,
        });
        expect((await waitForStatus(t, operator, first)).status).toBe('cancelled');
        expect((await waitForStatus(t, operator, second)).status).toBe('completed');
      } finally {
        await silent.close();
      }
    });
  });
}
