import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { builtinTools, catalog, dnsLookupTool } from '../../src/tools/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { execute, setTargets, toolWorker, waitForStatus } from './support.ts';

/**
 * The DNS lookup answers what the platform's resolvers know: without the allowlist a tenant asks
 * them for names only the platform's network has (its database, its agents, the cluster's services)
 * and reads the answers in the run's result. It is held to the allowlist as the scanners are: the
 * name asked, at the request and at the start of the run, and the addresses answered.
 */
for (const kind of databaseKinds) {
  describe(`dns-lookup and the tenant's allowlist (${kind.name})`, () => {
    let t: TestApp;
    let owner: SignedInUser;
    let member: SignedInUser;
    const workers: ToolJobs[] = [];
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      const tenant = await t.tenant(undefined, 'enterprise');
      owner = await t.user({ tenant: tenant.slug, role: 'owner' });
      member = await t.user({ tenant: tenant.slug, role: 'member' });
    });
    afterAll(async () => {
      for (const worker of workers) await worker.stop(1000);
      await t?.dispose();
    });
    const executions = async () =>
      (
        (await (
          await t.request('/v1/executions', { token: owner.token, tenant: owner.tenantSlug })
        ).json()) as {
          items: LooseJson[];
        }
      ).items;

    it('refuses a name outside the allowlist with 403 target-not-allowed, as the scanners do, and records nothing', async () => {
      await setTargets(t, owner, ['10.0.0.0/8']);
      // `app.localhost` resolves (to 127.0.0.1, outside the list); the other resolves nowhere. Both
      // are refused alike, and the refusal does not tell which of them exists.
      const details: string[] = [];
      for (const name of ['app.localhost', `nothing-${crypto.randomUUID().slice(0, 8)}.invalid`]) {
        for (const [tool, parameters] of [
          ['dns-lookup', { name }],
          ['http-headers', { url: `http://${name}/` }],
        ] as const) {
          const res = await execute(t, member, tool, parameters);
          expect(res.status, `${tool} ${name}`).toBe(403);
          expect(res.headers.get('content-type')).toContain('application/problem+json');
          const problem = (await res.json()) as LooseJson;
          expect(problem.type).toMatch(/target-not-allowed$/);
          const target = tool === 'dns-lookup' ? name : `http://${name}/`;
          expect(problem.target).toBe(target);
          details.push(String(problem.detail).replace(target, 'TARGET'));
        }
      }
      expect(new Set(details).size).toBe(1);
      expect(await executions()).toEqual([]);
    });

    it('runs a listed name, and answers only the addresses the allowlist lets a tool reach', async () => {
      await setTargets(t, owner, ['app.localhost', '10.0.0.0/8']);
      // The resolvers answer a listed name with an address the platform denies (a rebinding name):
      // the other tools would never connect there, and the lookup does not tell it.
      const answers: Record<string, string[]> = {
        A: ['127.0.0.1', '169.254.169.254'],
        AAAA: ['::1'],
        TXT: ['v=spf1 -all'],
      };
      const lookup = dnsLookupTool(() => ({
        resolve: async (_name: string, type: string) => {
          const found = answers[type];
          if (!found) throw Object.assign(new Error('no data'), { code: 'ENODATA' });
          return type === 'TXT' ? found.map((r) => [r]) : found;
        },
        cancel: () => undefined,
      }));
      const tools = builtinTools.map((tool) => (tool.id === lookup.id ? lookup : tool));
      workers.push(toolWorker(t, { catalog: catalog(tools), deniedTargets: ['169.254.0.0/16', '::1/128'] }));
      const res = await execute(t, member, 'dns-lookup', {
        name: 'app.localhost',
        types: ['A', 'AAAA', 'TXT'],
      });
      expect(res.status).toBe(202);
      const done = await waitForStatus(t, member, ((await res.json()) as LooseJson).id);
      expect(done.status).toBe('completed');
      expect(done.target).toBe('app.localhost');
      expect(done.result.records).toEqual({ A: ['127.0.0.1'], AAAA: [], TXT: ['v=spf1 -all'] });
      expect(done.result.withheld).toEqual({ A: 1, AAAA: 1 });
      expect(JSON.stringify(done.result)).not.toContain('169.254');
    });
  });
}
