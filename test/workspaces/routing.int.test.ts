import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { changeWorkspace } from '../../src/commands/workspaces/index.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { NginxConfigError, NginxRouter } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, type Nginx, startDockerd, startNginx } from '../support/docker.ts';
import { provisioningWorkers, type RunningAgent, startAgent } from './agent-support.ts';

// Long enough that exact names would overflow nginx's default server-name hash buckets.
const domain = 'workspaces.example.com';

/** A GET through nginx with a Host header of our choosing (fetch does not let one set Host). */
function getWithHost(port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function eventually<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  // A reload closes the old workers' keep-alive connections: a request caught in one fails, and is retried.
  const attempt = () => probe().catch(() => undefined);
  let last = await attempt();
  while ((last === undefined || !ok(last)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await attempt();
  }
  if (last === undefined) throw new Error('nginx never answered');
  return last;
}

describe('routing: nginx configuration from the routes read model, through a real nginx', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let nginx: Nginx;
  let worker: Worker;
  let router: NginxRouter;
  let admin: SignedInUser;
  let image: string;
  const logged: string[] = [];

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent, image, nginx] = await Promise.all([
      testApp(freshPGlite),
      startAgent(daemon),
      importBaseImage(daemon),
      startNginx(),
    ]);
    worker = await provisioningWorkers(t);
    router = new NginxRouter({
      db: t.database.db as never,
      target: { routesFile: nginx.routes, command: nginx.command },
      listen: `127.0.0.1:${nginx.port}`,
      domain,
      intervalMs: 100,
      logger: { info: () => {}, warn: () => {}, error: (o: object) => void logged.push(JSON.stringify(o)) },
    });
    router.start();
    admin = await t.user({ role: 'admin' });
    const registered = await t.request('/v1/agents', {
      token: admin.token,
      tenant: admin.tenantSlug,
      json: {
        name: 'host-a',
        url: agent.url,
        enrolment_token: agent.token,
        capacity: { cpus: 4, memory_mb: 4096, workspaces: 10 },
      },
    });
    expect(registered.status).toBe(201);
    await t.engine.waitFor(
      ['workspaceAgentList'],
      BigInt(registered.headers.get('x-position') ?? '0'),
      5_000,
    );
  });
  afterAll(async () => {
    await router?.stop();
    await worker?.stop();
    await agent?.dispose();
    await Promise.all([daemon?.stop(), nginx?.stop()]);
    await t?.dispose();
  });

  it('serves a ready workspace at /u/<user>/ and at <user>.<domain>, and stops serving it once deleted', async () => {
    const member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    const answer = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: admin.tenantSlug,
      json: { image },
    });
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as { id: string };

    const byPath = await eventually(
      async () => {
        const r = await fetch(`${nginx.url}/u/${member.userId}/`);
        return { status: r.status, body: await r.text() };
      },
      (r) => r.status === 200,
    );
    expect(byPath).toEqual({ status: 200, body: 'workspace\n' });
    expect(await getWithHost(nginx.port, `${member.userId}.${domain}`)).toEqual({
      status: 200,
      body: 'workspace\n',
    });
    const live = readFileSync(nginx.routes, 'utf8');
    expect(live).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(live).toContain(`server_name ~^${member.userId}\\.${domain.replaceAll('.', '\\.')}$;`);

    const deleted = await t.request(`/v1/workspaces/${id}`, {
      token: admin.token,
      tenant: admin.tenantSlug,
      method: 'DELETE',
    });
    expect(deleted.status).toBe(202);
    const gone = await eventually(
      async () => (await fetch(`${nginx.url}/u/${member.userId}/`)).status,
      (status) => status === 404,
    );
    expect(gone).toBe(404);
    expect(readFileSync(nginx.routes, 'utf8')).not.toContain(member.userId);
    expect(logged).toEqual([]);
  });

  it('never lets a render nginx refuses reach the live file; nginx keeps serving the last good one', async () => {
    const before = readFileSync(nginx.routes, 'utf8');
    const broken = new NginxRouter({
      db: t.database.db as never,
      target: { routesFile: nginx.routes, command: nginx.command },
      listen: `127.0.0.1:${nginx.port}`,
      domain,
      logger: { info: () => {}, warn: () => {}, error: () => {} },
      render: () => 'server { listen 127.0.0.1:1; location / { proxy_pass http://; }\n',
    });
    await expect(broken.sync()).rejects.toBeInstanceOf(NginxConfigError);
    expect(readFileSync(nginx.routes, 'utf8')).toBe(before);
    expect((await fetch(`${nginx.url}/u/nobody/`)).status).toBe(404);
  });

  it('skips a tick while a pass is still running instead of queueing passes behind it (a slow reload)', async () => {
    // A real nginx checks each render; its reload is slow here (a wrapper sleeps 300 ms first), and
    // each render differs, so every pass checks, replaces and reloads.
    const dir = mkdtempSync(join(tmpdir(), 'warden-router-'));
    const slow = join(dir, 'slow-nginx');
    writeFileSync(
      slow,
      '#!/bin/sh\nfor a in "$@"; do [ "$a" = "-s" ] && { sleep 0.3; exit 0; }; done\nexec /usr/sbin/nginx "$@"\n',
    );
    chmodSync(slow, 0o755);
    let passes = 0;
    const router = new NginxRouter({
      db: t.database.db as never,
      target: { routesFile: join(dir, 'routes.conf'), command: [slow] },
      listen: '127.0.0.1:1',
      domain,
      intervalMs: 5,
      logger: { info: () => {}, warn: () => {}, error: (o: object) => void logged.push(JSON.stringify(o)) },
      render: () => `# pass ${++passes}\n`,
    });
    try {
      router.start();
      await vi.waitFor(() => expect(passes).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 20 });
      // Stopping waits for the pass in hand only: queued behind it there would be one per 5 ms tick.
      await router.stop();
      const stopped = passes;
      expect(stopped).toBeLessThanOrEqual(3);
      expect(readFileSync(join(dir, 'routes.conf'), 'utf8')).toBe(`# pass ${stopped}\n`);
    } finally {
      await router.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers a 503 page (which workspace, why, that it comes back, whom to ask) at both addresses of an unavailable workspace', async () => {
    const member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    const answer = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: admin.tenantSlug,
      json: { image },
    });
    const { id } = (await answer.json()) as { id: string };
    await eventually(
      async () => (await fetch(`${nginx.url}/u/${member.userId}/`)).status,
      (status) => status === 200,
    );
    // No saga recreates it here (the worker stops), so it stays unavailable as the monitor leaves it.
    await worker.stop();
    const marked = await changeWorkspace(
      t.store,
      admin.tenantId,
      id,
      { type: 'MarkUnavailable', reason: 'agent silent', at: new Date().toISOString() },
      { metadata: { tenantId: admin.tenantId, actorId: 'process:agentMonitor' } },
    );
    await t.engine.waitFor(['workspaceList', 'workspaceRoutes'], marked.position, 5_000);

    const byPath = await eventually(
      async () => {
        const r = await fetch(`${nginx.url}/u/${member.userId}/`);
        return {
          status: r.status,
          type: r.headers.get('content-type'),
          retry: r.headers.get('retry-after'),
          body: await r.text(),
        };
      },
      (r) => r.status === 503,
    );
    expect(byPath.status).toBe(503);
    expect(byPath.type).toContain('text/html');
    expect(byPath.retry).toBe('30');
    expect(byPath.body).toContain('This workspace is unavailable');
    expect(byPath.body).toContain(id);
    expect(byPath.body).toContain('the host it ran on stopped answering');
    expect(byPath.body).toContain('shows the workspace again once it is ready');
    expect(byPath.body).toContain('contact your administrator');
    const byHost = await getWithHost(nginx.port, `${member.userId}.${domain}`);
    expect(byHost.status).toBe(503);
    expect(byHost.body).toContain(id);
    // Another user's address is still nobody's.
    expect((await fetch(`${nginx.url}/u/${admin.userId}/`)).status).toBe(404);
    expect(logged).toEqual([]);
  });
});
