import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { agentKeys, NginxRouter, renderRoutes, sampleAgentStats } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Nginx, startNginx } from '../support/docker.ts';
import { provisioningWorkers } from './agent-support.ts';
import {
  type HostileAgent,
  type HostileAnswers,
  provisionWorkspace,
  registerAgent,
  saneStats,
  startHostileAgent,
} from './hostile-agent.ts';
import { enterWorkspace, throughNginx } from './nginx-session.ts';

/*
 * Agents belong to tenants: a tenant's admin registers any URL that enrols, so what an agent answers
 * is what that tenant wants Warden to hear. None of it may reach another tenant: not the nginx every
 * tenant's routes share, not the platform's sampling of every agent.
 */

describe('an agent answering what its tenant wants it to', () => {
  let t: TestApp;
  let nginx: Nginx;
  let worker: Worker;
  let router: NginxRouter;
  let site: Server;
  let sitePort: number;
  let http: Awaited<ReturnType<TestApp['listening']>>;
  const agents: HostileAgent[] = [];
  /** What the hostile agent says now. */
  const hostile: HostileAnswers = {
    port: () => ({ host_ip: '127.0.0.1', host_port: 99_999 }),
    system: () => saneStats,
  };

  beforeAll(async () => {
    [t, nginx] = await Promise.all([testApp(freshPGlite), startNginx()]);
    worker = await provisioningWorkers(t);
    http = await t.listening();
    router = new NginxRouter({
      db: t.database.db as never,
      target: { routesFile: nginx.routes, command: nginx.command },
      listen: `127.0.0.1:${nginx.port}`,
      domain: 'ws.example.com',
      accessUrl: http.base,
      intervalMs: 100,
      logger: { info: () => {}, warn: () => {}, error: () => {} },
    });
    router.start();
    // The honest tenant's "container": what its route should reach.
    site = createServer((_req, res) => res.end('workspace of tenant A\n'));
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    sitePort = (site.address() as { port: number }).port;
  });
  afterAll(async () => {
    await router?.stop();
    await worker?.stop();
    await Promise.all(agents.map((agent) => agent.close()));
    await new Promise((resolve) => site?.close(resolve));
    await http?.close();
    await nginx?.stop();
    await t?.dispose();
  });

  const register = async (admin: SignedInUser, answers: HostileAnswers) => {
    const agent = await startHostileAgent(answers);
    agents.push(agent);
    return registerAgent(t, admin, agent);
  };
  const provision = (admin: SignedInUser, userId: string) => provisionWorkspace(t, admin, userId);

  it('cannot take every tenant’s routes down with a port nginx refuses, nor point a route off its own host', async () => {
    const evil = await t.user({ tenant: (await t.tenant(undefined, 'premium')).slug, role: 'admin' });
    await register(evil, hostile);
    // A port nginx refuses (`nginx -t` fails on the whole file, so no route of anyone changes any more).
    const refused = await provision(evil, evil.userId);
    expect(refused).toMatchObject({ status: 'failed', failure: { step: 'route' } });
    expect(refused.failure?.reason).toContain('99999');

    // The cloud's metadata service (or any other host): not where this agent's workspaces run.
    hostile.port = () => ({ host_ip: '169.254.169.254', host_port: 80 });
    const member = await t.user({ tenant: evil.tenantSlug, role: 'member' });
    const elsewhere = await provision(evil, member.userId);
    expect(elsewhere).toMatchObject({ status: 'failed', failure: { step: 'route' } });
    expect(elsewhere.failure?.reason).toContain('169.254.169.254');

    // Not a list of ports at all: refused for good, not retried forever (a retried event holds up
    // every workspace of its partition, other tenants' too).
    hostile.ports = () => ({ host_ip: '127.0.0.1' });
    const third = await t.user({ tenant: evil.tenantSlug, role: 'member' });
    expect(await provision(evil, third.userId)).toMatchObject({
      status: 'failed',
      failure: { step: 'route', reason: 'the agent answered no list of published ports' },
    });
    delete hostile.ports;

    // Another tenant's workspace still goes live through the nginx every tenant shares.
    const honest = await t.user({ tenant: (await t.tenant(undefined, 'premium')).slug, role: 'admin' });
    await register(honest, {
      port: () => ({ host_ip: '127.0.0.1', host_port: sitePort }),
      system: () => saneStats,
    });
    const workspace = await provision(honest, honest.userId);
    expect(workspace).toMatchObject({ status: 'ready' });
    const cookie = await enterWorkspace(t, nginx, honest, workspace.id);
    const answer = await throughNginx(nginx.port, { path: `/u/${honest.userId}/`, headers: { cookie } });
    expect(answer.body).toBe('workspace of tenant A\n');
    const live = readFileSync(nginx.routes, 'utf8');
    expect(live).not.toContain('99999');
    expect(live).not.toContain('169.254.169.254');
  });

  it('renders no upstream nginx would refuse (a route stored before the check cannot break the file)', () => {
    const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
    const text = renderRoutes(
      [
        { workspaceId: id(1), userId: id(1), upstream: '127.0.0.1:99999' },
        { workspaceId: id(2), userId: id(2), upstream: '127.0.0.1:0' },
        { workspaceId: id(3), userId: id(3), upstream: '999.0.0.1:8080' },
        { workspaceId: id(4), userId: id(4), upstream: '1.2.3:8080' },
        { workspaceId: id(5), userId: id(5), upstream: '127.0.0.1:8080' },
      ],
      { listen: '8080', domain: 'ws.example.com', accessUrl: 'http://127.0.0.1:3000' },
    );
    expect(text).toContain(`location /u/${id(5)}/`);
    for (const n of [1, 2, 3, 4]) expect(text).not.toContain(id(n));
  });

  it('refuses statistics that are not numbers of their kind: the agent is unreachable, every other agent is still sampled', async () => {
    const evil = await t.user({ tenant: (await t.tenant(undefined, 'premium')).slug, role: 'admin' });
    const evilAgent = await register(evil, {
      port: hostile.port,
      system: () => ({
        cpu: { cores: 1.5, load1: 'high' },
        memory: { total_bytes: 1e300, free_bytes: -1 },
        disk: { total_bytes: -1, free_bytes: 2 },
        containers: { total: 'many', running: 2 ** 40, images: 0 },
      }),
    });
    const good = await t.user({ tenant: (await t.tenant(undefined, 'premium')).slug, role: 'admin' });
    const goodAgent = await register(good, { port: hostile.port, system: () => saneStats });

    const round = await sampleAgentStats({
      db: t.database.db as never,
      keys: agentKeys(t.database.db as never, t.identity.sealer),
      clock: () => new Date(),
      timeoutMs: 5_000,
    });
    expect(round.sampled).toBeGreaterThanOrEqual(1);
    const history = async (admin: SignedInUser, agentId: string) =>
      (await (
        await t.request(`/v1/agents/${agentId}/stats/history`, {
          token: admin.token,
          tenant: admin.tenantSlug,
        })
      ).json()) as { items: unknown[] };
    expect((await history(good, goodAgent)).items).toHaveLength(1);
    expect((await history(evil, evilAgent)).items).toHaveLength(0);

    const stats = await t.request(`/v1/agents/${evilAgent}/stats`, {
      token: evil.token,
      tenant: evil.tenantSlug,
    });
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ status: 'unreachable', cpu: null });
  });
});
