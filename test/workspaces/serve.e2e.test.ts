import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runWarden, signIn, until, untilReady } from '../support/cli.ts';
import { type Dockerd, importBaseImage, type Nginx, startDockerd, startNginx } from '../support/docker.ts';
import { type RunningAgent, startAgent } from './agent-support.ts';

/**
 * The README walk-through, with the real processes: `warden serve` (configured only by its
 * environment) with a dockerd, a `warden agent` and an nginx; the service itself runs the router,
 * the heartbeats and the reconciler.
 */
describe('warden serve runs the workspace machinery: agent, workspace, nginx, heartbeats', () => {
  let daemon: Dockerd;
  let agent: RunningAgent;
  let nginx: Nginx;
  let image: string;
  let serve: ReturnType<typeof runWarden> | undefined;
  const dataDir = mkdtempSync('/tmp/warden-ws-serve-');
  /** `until`, failing with what the server logged (its logs are the only window into it). */
  const waitFor = (what: string, condition: () => Promise<boolean>, timeoutMs: number) =>
    until(condition, serve?.child, timeoutMs).catch((error: unknown) => {
      throw new Error(`${what}: ${serve?.out().slice(-3_000)}\n${serve?.err().slice(-2_000)}`, {
        cause: error,
      });
    });

  beforeAll(async () => {
    daemon = await startDockerd();
    [agent, image, nginx] = await Promise.all([startAgent(daemon), importBaseImage(daemon), startNginx()]);
  }, 120_000);
  afterAll(async () => {
    if (serve && serve.child.exitCode === null) {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
    await agent?.dispose();
    await Promise.all([daemon?.stop(), nginx?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers an agent, provisions a workspace over HTTP and serves it through nginx; GET /v1/agents shows the heartbeat; a clean stop', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const password = 'correct horse battery staple';
    serve = runWarden(['serve'], {
      PORT: String(port),
      WARDEN_DATA_DIR: dataDir,
      WARDEN_ADMIN_EMAIL: 'root@example.com',
      WARDEN_ADMIN_PASSWORD: password,
      WARDEN_ARGON2_MEMORY_KIB: '1024',
      WARDEN_ARGON2_TIME_COST: '1',
      WARDEN_WORKSPACE_DOMAIN: 'ws.example.com',
      WARDEN_NGINX_CONFIG: nginx.routes,
      WARDEN_NGINX_COMMAND: nginx.command.join(' '),
      WARDEN_NGINX_LISTEN: `127.0.0.1:${nginx.port}`,
      WARDEN_NGINX_SYNC_MS: '200',
      WARDEN_AGENT_HEARTBEAT_MS: '300',
      WARDEN_AGENT_SILENCE_MS: '30000',
    });
    // Generous: the first start migrates a fresh PGlite, and these tests share two cores with others.
    await untilReady(base, serve.child, 150_000);
    const token = await signIn(base, 'root@example.com', password);
    expect(token).toBeDefined();
    const call = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${token}`,
          'x-tenant': 'default',
          'content-type': 'application/json',
        },
      });

    const registered = await call('/v1/agents', {
      method: 'POST',
      body: JSON.stringify({
        name: 'host-1',
        url: agent.url,
        enrolment_token: agent.token,
        capacity: { cpus: 4, memory_mb: 4096, workspaces: 10 },
      }),
    });
    expect(registered.status).toBe(201);
    const agentId = ((await registered.json()) as { id: string }).id;

    const requested = await call('/v1/workspaces', { method: 'POST', body: JSON.stringify({ image }) });
    expect(requested.status).toBe(202);
    const workspace = (await requested.json()) as { id: string; user_id: string };

    // The service renders the route into nginx's file and reloads it: nginx routes the workspace, and
    // asks the service (WARDEN_WORKSPACE_ACCESS_URL's default, this port) for a session it is not shown.
    const home = `${nginx.url}/u/${workspace.user_id}/`;
    await waitFor(
      'the workspace never went live through nginx',
      async () => (await fetch(home).catch(() => undefined))?.status === 401,
      90_000,
    );
    // Its user asks for a link and follows it, as a browser: the session cookie, then the workspace.
    const link = await call(`/v1/workspaces/${workspace.id}/sessions`, { method: 'POST' });
    expect(link.status).toBe(201);
    const entered = await fetch(`${nginx.url}${((await link.json()) as { path: string }).path}`, {
      redirect: 'manual',
    });
    expect(entered.status).toBe(303);
    const cookie = (entered.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const answer = await fetch(home, { headers: { cookie } });
    expect(answer.status).toBe(200);
    const body = await answer.text();
    expect(body).toBe('workspace\n');
    expect(readFileSync(nginx.routes, 'utf8')).toContain(
      `server_name ~^${workspace.user_id}\\.ws\\.example\\.com$;`,
    );

    // The heartbeat monitor the service runs records each answer where every process reads it.
    let heartbeat: string | null = null;
    await waitFor(
      'no heartbeat was recorded',
      async () => {
        const agents = (await (await call('/v1/agents')).json()) as {
          items: { id: string; last_heartbeat_at: string | null }[];
        };
        heartbeat = agents.items.find((a) => a.id === agentId)?.last_heartbeat_at ?? null;
        return heartbeat !== null;
      },
      10_000,
    );
    expect(Date.parse(heartbeat ?? '')).toBeGreaterThan(Date.now() - 60_000);

    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(serve.err()).not.toContain('nginx routes not applied');
    expect(serve.out()).not.toContain('workspace agents round failed');
  }, 300_000);
});
