import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { AGENT_ATTEMPTS } from '../../src/processes/workspaces/provisioning-steps.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { provisioningWorkers } from './agent-support.ts';
import {
  type HostileAgent,
  registerAgent,
  requestWorkspace,
  saneStats,
  settledWorkspace,
  startHostileAgent,
} from './hostile-agent.ts';

/*
 * The provisioning saga's events share partitions across tenants, and the runtime retries a failing
 * event while the events behind it in its partition wait. An agent is its tenant's: one that never
 * does its work (503 to every container call, forever) held every workspace behind its own, other
 * tenants' too, for as long as it kept failing. Now its step gives up after a bounded number of
 * attempts, recording why.
 */
describe('an agent that never does its work', () => {
  let t: TestApp;
  let worker: Worker;
  let site: Server;
  let sitePort: number;
  const agents: HostileAgent[] = [];

  beforeAll(async () => {
    t = await testApp(freshPGlite);
    // One partition: every workspace's events queue behind each other, as some always do.
    worker = await provisioningWorkers(t, 1);
    site = createServer((_req, res) => res.end('workspace of tenant A\n'));
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    sitePort = (site.address() as { port: number }).port;
  });
  afterAll(async () => {
    await worker?.stop();
    await Promise.all(agents.map((agent) => agent.close()));
    await new Promise((resolve) => site?.close(resolve));
    await t?.dispose();
  });

  const register = async (admin: SignedInUser, agent: HostileAgent) => {
    agents.push(agent);
    await registerAgent(t, admin, agent);
  };
  const request = (admin: SignedInUser, userId: string) => requestWorkspace(t, admin, userId);
  const settled = (admin: SignedInUser, id: string, timeoutMs: number) =>
    settledWorkspace(t, admin, id, timeoutMs);

  it('fails its own workspace after a bounded number of attempts and holds no other tenant’s behind it', async () => {
    const { slug: stalling } = await t.tenant(undefined, 'enterprise');
    const mallory = await t.user({ tenant: stalling, role: 'admin' });
    await register(
      mallory,
      await startHostileAgent({
        port: () => ({ host_ip: '127.0.0.1', host_port: 1 }),
        system: () => saneStats,
        failing: () => true,
      }),
    );
    const { slug: honest } = await t.tenant(undefined, 'enterprise');
    const alice = await t.user({ tenant: honest, role: 'admin' });
    await register(
      alice,
      await startHostileAgent({
        port: () => ({ host_ip: '127.0.0.1', host_port: sitePort }),
        system: () => saneStats,
      }),
    );

    const stuck = await request(mallory, mallory.userId);
    const theirs = await request(alice, alice.userId);
    // The backoff over the attempts is about 25 s; the honest workspace is ready once it is over.
    const ready = await settled(alice, theirs, 120_000);
    expect(ready.status).toBe('ready');
    const failed = await settled(mallory, stuck, 10_000);
    expect(failed.status).toBe('failed');
    expect(failed.failure?.step).toBe('create');
    expect(failed.failure?.reason).toContain(`the agent did not answer after ${AGENT_ATTEMPTS} attempts`);
  }, 180_000);
});
