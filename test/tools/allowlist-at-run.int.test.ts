import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { countingServer, execute, setTargets, toolTenant, toolWorker, waitForStatus } from './support.ts';

/**
 * The allowlist holds when the run starts, not only when it was asked for: a run waits queued
 * (behind the tenant's concurrency, or no free worker) for as long as it takes, and the tenant may
 * take a target off its list meanwhile (its owner asked it to stop scanning them).
 */
for (const kind of databaseKinds) {
  describe(`the allowlist at the start of a run (${kind.name})`, () => {
    let t: TestApp;
    let worker: ToolJobs | undefined;
    let owner: SignedInUser;
    let operator: SignedInUser;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      ({ owner, operator } = await toolTenant(t));
    });
    afterAll(async () => {
      await worker?.stop(1000);
      await t?.dispose();
    });

    it('refuses a queued run whose target left the allowlist before it started: no packet is sent to it', async () => {
      const server = await countingServer();
      try {
        // No worker yet: both runs wait queued, checked against the allowlist that held then.
        const portScan = await execute(t, operator, 'port-scan', {
          host: '127.0.0.1',
          ports: String(server.port),
        });
        expect(portScan.status).toBe(202);
        const nmap = await execute(t, operator, 'nmap', { host: '127.0.0.1', ports: String(server.port) });
        expect(nmap.status).toBe(202);
        await setTargets(t, owner, ['10.0.0.0/8']);
        worker = toolWorker(t);
        for (const res of [portScan, nmap]) {
          const done = await waitForStatus(t, operator, ((await res.json()) as LooseJson).id);
          expect(done.status).toBe('failed');
          expect(done.error).toContain('127.0.0.1');
          expect(done.error).toContain('allowlist');
          expect(done.result).toBeNull();
        }
        expect(server.connections()).toBe(0);

        // Back on the list: a run is let through again.
        await setTargets(t, owner, ['127.0.0.1/32']);
        const again = await execute(t, operator, 'port-scan', {
          host: '127.0.0.1',
          ports: String(server.port),
        });
        const done = await waitForStatus(t, operator, ((await again.json()) as LooseJson).id);
        expect(done.status).toBe('completed');
        expect(done.result.open).toEqual([server.port]);
        expect(server.connections()).toBe(1);
      } finally {
        await server.close();
      }
    });
  });
}
