import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.ts';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { countingServer, execute, toolTenant, toolWorker, waitForStatus } from './support.ts';

/** The platform's default: what `warden serve` denies when WARDEN_TOOL_DENIED_TARGETS is unset. */
const DEFAULT_DENIED = configSchema.shape.WARDEN_TOOL_DENIED_TARGETS.parse(undefined);

/**
 * A tenant's admin writes the allowlist, so without a platform-wide limit an admin could point the
 * port and TLS scanners, the HTTP header fetch and the JWKS fetch at the platform itself: the Warden
 * host's loopback services (its database, its agent, nginx's admin ports) and the cloud metadata
 * service, whose answers come back in the run's output. The platform's denied addresses hold
 * whatever the allowlist says, at the request and again when the run starts.
 */
for (const kind of databaseKinds) {
  describe(`the platform's denied targets (${kind.name})`, () => {
    let t: TestApp;
    let owner: SignedInUser;
    let operator: SignedInUser;
    const workers: ToolJobs[] = [];
    beforeAll(async () => {
      t = await testApp(kind.fresh, { env: { WARDEN_TOOL_DENIED_TARGETS: DEFAULT_DENIED.join(',') } });
      ({ owner, operator } = await toolTenant(t));
    });
    afterAll(async () => {
      for (const worker of workers) await worker.stop(1000);
      await t?.dispose();
    });

    it('denies loopback, the metadata address and names resolving there, whatever the tenant allowlists', async () => {
      expect(DEFAULT_DENIED).toEqual(expect.arrayContaining(['127.0.0.0/8', '169.254.0.0/16', '::/96']));
      const server = await countingServer();
      try {
        // The tenant's admin lists the platform's own addresses: the list is taken…
        const put = await t.request('/v1/tools/targets', {
          method: 'PUT',
          token: owner.token,
          tenant: owner.tenantSlug,
          json: { targets: ['127.0.0.0/8', '169.254.0.0/16', '::/0', 'app.localhost', '10.0.0.0/8'] },
        });
        expect(put.status).toBe(200);
        workers.push(toolWorker(t));
        // …and every run at them is refused before a packet is sent.
        const attempts: [string, LooseJson][] = [
          ['port-scan', { host: '127.0.0.1', ports: String(server.port) }],
          ['port-scan', { host: '127.9.9.9', ports: String(server.port) }],
          ['port-scan', { host: 'app.localhost', ports: String(server.port) }],
          ['port-scan', { host: '::ffff:127.0.0.1', ports: String(server.port) }],
          ['port-scan', { host: '::1', ports: String(server.port) }],
          ['port-scan', { host: '0.0.0.0', ports: String(server.port) }],
          ['nmap', { host: '127.0.0.1', ports: String(server.port) }],
          ['http-headers', { url: `http://127.0.0.1:${server.port}/` }],
          ['http-headers', { url: 'http://169.254.169.254/latest/meta-data/' }],
        ];
        for (const [tool, parameters] of attempts) {
          const res = await execute(t, operator, tool, parameters);
          expect(res.status, `${tool} ${JSON.stringify(parameters)}`).toBe(403);
          expect(res.headers.get('content-type')).toContain('application/problem+json');
          const problem = (await res.json()) as LooseJson;
          expect(problem.detail, JSON.stringify(parameters)).toContain('the platform denies to tools');
        }
        expect(server.connections()).toBe(0);
        // What the platform allows and the tenant lists still runs (the allowlist still decides there).
        const outside = await execute(t, operator, 'port-scan', { host: '10.0.0.1', ports: '1' });
        expect(outside.status).toBe(202);
      } finally {
        await server.close();
      }
    });

    it('refuses at the start a run queued before the platform denied its target', async () => {
      // This app's routes deny nothing here: a run asked for then, started by a worker that denies.
      const open = await testApp(kind.fresh, { env: { WARDEN_TOOL_DENIED_TARGETS: 'none' } });
      const server = await countingServer();
      try {
        const tenant = await toolTenant(open);
        const queued = await execute(open, tenant.operator, 'port-scan', {
          host: '127.0.0.1',
          ports: String(server.port),
        });
        expect(queued.status).toBe(202);
        const worker = toolWorker(open, { deniedTargets: DEFAULT_DENIED });
        try {
          const done = await waitForStatus(open, tenant.operator, ((await queued.json()) as LooseJson).id);
          expect(done.status).toBe('failed');
          expect(done.error).toContain('127.0.0.1 is one the platform denies to tools');
          expect(server.connections()).toBe(0);
        } finally {
          await worker.stop(1000);
        }
      } finally {
        await server.close();
        await open.dispose();
      }
    });
  });
}
