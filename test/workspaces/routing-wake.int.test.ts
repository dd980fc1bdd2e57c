import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeWorkspace } from '../../src/commands/workspaces/index.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { NginxRouter } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { type Dockerd, importBaseImage, type Nginx, startDockerd, startNginx } from '../support/docker.ts';
import { databaseKinds } from '../support/postgres.ts';
import { provisioningWorkers, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';
import { eventually } from './nginx-session.ts';

const status = async (url: string) => {
  const r = await fetch(url);
  await r.text();
  return r.status;
};

describe.each(databaseKinds)('routing woken by the routes projections ($name)', ({ fresh }) => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let nginx: Nginx;
  let worker: Worker;
  let router: NginxRouter;
  let admin: SignedInUser;
  let image: string;
  let http: Awaited<ReturnType<TestApp['listening']>>;
  const logged: string[] = [];

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent, image, nginx] = await Promise.all([
      testApp(fresh),
      startAgent(daemon),
      importBaseImage(daemon),
      startNginx(),
    ]);
    worker = await provisioningWorkers(t);
    http = await t.listening();
    router = new NginxRouter({
      db: t.database.db as never,
      // `-s reload` through this command fails (no such configuration): nginx is reloaded only by the
      // SIGHUP to the pid in its pid file.
      target: {
        routesFile: nginx.routes,
        command: [nginx.command[0] ?? 'nginx', '-p', nginx.dir, '-c', join(nginx.dir, 'missing.conf')],
        pidFile: join(nginx.dir, 'nginx.pid'),
      },
      notices: t.database,
      listen: `127.0.0.1:${nginx.port}`,
      domain: 'workspaces.example.com',
      accessUrl: http.base,
      // Ten minutes: a route that goes live within the test was put there by a notice, not a tick.
      intervalMs: 600_000,
      logger: {
        info: () => {},
        warn: (o: object) => void logged.push(JSON.stringify(o)),
        error: (o: object) => void logged.push(JSON.stringify(o)),
      },
    });
    router.start();
    admin = await t.user({ role: 'admin' });
    await registerAgentViaApi(t, admin, agent, { name: 'host-a' });
  });
  afterAll(async () => {
    await router?.stop();
    await worker?.stop();
    await agent?.dispose();
    await http?.close();
    await Promise.all([daemon?.stop(), nginx?.stop()]);
    await t?.dispose();
  });

  it('puts a route live and shows the 503 page as each change is announced, reloading nginx by SIGHUP', async () => {
    const member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    const answer = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: admin.tenantSlug,
      json: { image },
    });
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as { id: string };
    const url = `${nginx.url}/u/${member.userId}/`;
    // Live: nginx routes it, and asks Warden for a session it is not shown (see routing.int.test.ts).
    expect(
      await eventually(
        () => status(url),
        (s) => s === 401,
        30_000,
      ),
    ).toBe(401);

    // Marked unavailable (no saga recreates it: the worker stops): the workspace list's notice
    // brings the 503 page, though the route's withdrawal may have been rendered before it.
    await worker.stop();
    await changeWorkspace(
      t.store,
      admin.tenantId,
      id,
      { type: 'MarkUnavailable', reason: 'agent silent', at: new Date().toISOString() },
      { metadata: { tenantId: admin.tenantId, actorId: 'process:agentMonitor' } },
    );
    expect(
      await eventually(
        () => status(url),
        (s) => s === 503,
        15_000,
      ),
    ).toBe(503);
    expect(readFileSync(nginx.routes, 'utf8')).toContain(id);

    // The checked candidates were renamed into place or removed: nothing is left beside the live file.
    expect(
      readdirSync(dirname(nginx.routes)).filter((f) => f.endsWith('.next') || f.startsWith('.warden-check-')),
    ).toEqual([]);
    expect(logged).toEqual([]);
  });
});
