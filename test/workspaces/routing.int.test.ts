import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handle } from '../../src/commands/kernel/index.ts';
import { type TenantCommand, tenantDecider, tenantStreamId } from '../../src/commands/tenancy/index.ts';
import { changeWorkspace } from '../../src/commands/workspaces/index.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { NginxConfigError, NginxRouter } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, type Nginx, startDockerd, startNginx } from '../support/docker.ts';
import { provisioningWorkers, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';
import { enterWorkspace, eventually, throughNginx, workspaceTicket } from './nginx-session.ts';

// Long enough that exact names would overflow nginx's default server-name hash buckets.
const domain = 'workspaces.example.com';

describe('routing: nginx configuration from the routes read model, through a real nginx', () => {
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
      testApp(freshPGlite),
      startAgent(daemon),
      importBaseImage(daemon),
      startNginx(),
    ]);
    worker = await provisioningWorkers(t);
    // nginx asks this listening copy of the app before every workspace request (auth_request).
    http = await t.listening();
    router = new NginxRouter({
      db: t.database.db as never,
      target: { routesFile: nginx.routes, command: nginx.command },
      listen: `127.0.0.1:${nginx.port}`,
      domain,
      accessUrl: http.base,
      intervalMs: 100,
      logger: { info: () => {}, warn: () => {}, error: (o: object) => void logged.push(JSON.stringify(o)) },
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

  it('serves a ready workspace at /u/<user>/ and at <user>.<domain> to its user’s session, and stops serving it once deleted', async () => {
    const member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    const answer = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: admin.tenantSlug,
      json: { image },
    });
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as { id: string };

    const cookie = await enterWorkspace(t, nginx, member, id);
    const byPath = await throughNginx(nginx.port, { path: `/u/${member.userId}/`, headers: { cookie } });
    expect({ status: byPath.status, body: byPath.body }).toEqual({ status: 200, body: 'workspace\n' });
    // Each address is entered on its own: the browser keeps the path's cookie to that path, the
    // host's to that host alone (no Domain attribute, so no sibling workspace's host gets it).
    const host = `${member.userId}.${domain}`;
    const hostCookie = await enterWorkspace(t, nginx, member, id, host);
    const byHost = await throughNginx(nginx.port, { host, headers: { cookie: hostCookie } });
    expect({ status: byHost.status, body: byHost.body }).toEqual({ status: 200, body: 'workspace\n' });
    // Served by host alone (WARDEN_WORKSPACE_PATH_ROUTES=false), the API names no path to it.
    const hostOnly = t.variant({ config: { ...t.config, WARDEN_WORKSPACE_PATH_ROUTES: false } });
    const asMember = { token: member.token, tenant: member.tenantSlug };
    expect(await (await hostOnly(`/v1/workspaces/${id}`, asMember)).json()).toMatchObject({ path: null });
    const hostLink = await hostOnly(`/v1/workspaces/${id}/sessions`, { ...asMember, method: 'POST' });
    expect(await hostLink.json()).toMatchObject({
      path: null,
      // The API names the host in its own WARDEN_WORKSPACE_DOMAIN (this nginx was rendered with another).
      host: `${member.userId}.${t.config.WARDEN_WORKSPACE_DOMAIN}`,
      host_path: expect.stringMatching(/^\/\.warden\/enter\?ticket=/),
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
      async () => (await fetch(`${nginx.url}/u/${member.userId}/`, { headers: { cookie } })).status,
      (status) => status === 404,
    );
    expect(gone).toBe(404);
    expect(readFileSync(nginx.routes, 'utf8')).not.toContain(member.userId);
    expect(logged).toEqual([]);
  });

  it('lets nobody else in: no or a forged cookie, a used ticket, a neighbour’s session, a manager, another tenant, a cross-site request, a suspended tenant, a changed password, an ended session', async () => {
    const [alice, bob] = await Promise.all([
      t.user({ tenant: admin.tenantSlug, role: 'member' }),
      t.user({ tenant: admin.tenantSlug, role: 'member' }),
    ]);
    const request = async (user: SignedInUser) => {
      const res = await t.request('/v1/workspaces', {
        token: user.token,
        tenant: user.tenantSlug,
        json: { image },
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const [aliceWs, bobWs] = await Promise.all([request(alice), request(bob)]);
    const home = `/u/${alice.userId}/`;
    const cookie = await enterWorkspace(t, nginx, alice, aliceWs);
    /** Alice's workspace answers `status` to `cookie` within 10 s (the check reuses an answer 5 s). */
    const settlesTo = async (status: number, withCookie: string) =>
      expect(
        (
          await eventually(
            () => get({ cookie: withCookie }),
            (r) => r.status === status,
            10_000,
          )
        ).status,
      ).toBe(status);
    const get = (headers: Record<string, string>, method = 'GET') =>
      throughNginx(nginx.port, { path: home, method, headers });
    /** `/v1/workspaces/{Alice's}/sessions` as `user`: POST opens one, DELETE ends them all. */
    const sessions = (user: SignedInUser, method: 'POST' | 'DELETE') =>
      t.request(`/v1/workspaces/${aliceWs}/sessions`, { token: user.token, tenant: user.tenantSlug, method });

    const none = await get({});
    expect(none.status).toBe(401);
    expect(none.body).toContain('POST /v1/workspaces/{id}/sessions');
    expect((await get({ cookie: `warden_workspace=${'A'.repeat(43)}` })).status).toBe(401);
    expect((await get({ cookie: 'warden_workspace=../../etc; other=1' })).status).toBe(401);

    // A ticket works once: the second browser to use it gets nothing.
    const link = await workspaceTicket(t, alice, aliceWs);
    expect((await throughNginx(nginx.port, { path: link.path })).status).toBe(303);
    const replay = await throughNginx(nginx.port, { path: link.path });
    expect(replay.status).toBe(401);
    expect(replay.headers['set-cookie']).toBeUndefined();
    expect(
      (await throughNginx(nginx.port, { path: `/u/${alice.userId}/.warden/enter?ticket=x` })).status,
    ).toBe(400);

    // Bob's session is his workspace's alone, even sent to Alice's address.
    const bobCookie = await enterWorkspace(t, nginx, bob, bobWs);
    expect((await get({ cookie: bobCookie })).status).toBe(401);
    // Nobody but its user gets a ticket: a manager 403, another member and another tenant 404.
    const asAdmin = await sessions(admin, 'POST');
    expect(asAdmin.status).toBe(403);
    const asBob = await sessions(bob, 'POST');
    expect(asBob.status).toBe(404);
    const stranger = await t.user({ role: 'owner' });
    const asStranger = await sessions(stranger, 'POST');
    expect(asStranger.status).toBe(404);

    // Fetch Metadata: a neighbour's page may link here (a top-level GET), not call in or post.
    const crossSite = { cookie, 'sec-fetch-site': 'same-site' };
    expect((await get({ ...crossSite, 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' })).status).toBe(
      403,
    );
    expect(
      (await get({ ...crossSite, 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' })).status,
    ).toBe(403);
    expect((await get({ ...crossSite, 'sec-fetch-mode': 'navigate' }, 'POST')).status).toBe(403);
    expect(
      (await get({ ...crossSite, 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' })).status,
    ).toBe(200);
    expect(
      (await get({ cookie, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' }, 'POST')).status,
    ).not.toBe(403);
    // The workspace's own Authorization header is its business: Warden's check never sees it.
    expect((await get({ cookie, authorization: 'Basic d29ya3NwYWNlOnNlY3JldA==' })).status).toBe(200);

    // A suspended tenant's workspaces answer nobody (within the check's 5 s reuse), and again once reactivated.
    // (and the API, which reads the tenant list, once it has the change)
    const tenantCommand = async (command: TenantCommand) => {
      const { position } = await handle(t.store, tenantStreamId(alice.tenantId), tenantDecider, command, {
        metadata: { tenantId: alice.tenantId, actorId: 'test' },
      });
      await t.engine.waitFor(['tenantList'], position, 5_000);
    };
    await tenantCommand({ type: 'SuspendTenant', reason: 'unpaid', at: new Date().toISOString() });
    await settlesTo(401, cookie);
    await tenantCommand({ type: 'ReactivateTenant', at: new Date().toISOString() });
    await settlesTo(200, cookie);

    // A changed password ends the workspace sessions made before it (within the check's 5 s reuse).
    const changed = await t.request('/v1/me/password', {
      token: alice.token,
      tenant: alice.tenantSlug,
      json: { current_password: alice.password, new_password: 'quartz-lantern-meadow-93' },
    });
    expect(changed.status).toBe(204);
    await settlesTo(401, cookie);
    const fresh = await enterWorkspace(t, nginx, alice, aliceWs);
    expect((await get({ cookie: fresh })).status).toBe(200);

    // Ending the sessions shuts the door at once; the audit trail has who opened and who ended.
    const ended = await sessions(alice, 'DELETE');
    expect(ended.status).toBe(200);
    expect(((await ended.json()) as { ended: number }).ended).toBeGreaterThanOrEqual(3);
    expect((await get({ cookie: fresh })).status).toBe(401);
    const events = await t.store.readStream(`workspaces.Workspace-${aliceWs}`);
    const types = events.map((e) => e.type);
    expect(types.filter((type) => type === 'WorkspaceSessionOpened')).toHaveLength(3);
    expect(types).toContain('WorkspaceSessionsEnded');
    // No ticket or session secret is kept in an event or in the table in the clear.
    expect(JSON.stringify(events.map((e) => [e.data, e.metadata]))).not.toContain(link.ticket);
    const rows = await sql`select * from warden_workspace_access`.execute(t.database.db as never);
    expect(JSON.stringify(rows)).not.toContain(cookie.split('=')[1]);
  });

  it('never lets a render nginx refuses reach the live file; nginx keeps serving the last good one', async () => {
    const before = readFileSync(nginx.routes, 'utf8');
    const broken = new NginxRouter({
      db: t.database.db as never,
      target: { routesFile: nginx.routes, command: nginx.command },
      listen: `127.0.0.1:${nginx.port}`,
      domain,
      accessUrl: http.base,
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
      accessUrl: http.base,
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
    const cookie = await enterWorkspace(t, nginx, member, id);
    expect(
      (await throughNginx(nginx.port, { path: `/u/${member.userId}/`, headers: { cookie } })).status,
    ).toBe(200);
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
    // The page needs no session: it holds nothing but the workspace's id.
    const byHost = await throughNginx(nginx.port, { host: `${member.userId}.${domain}` });
    expect(byHost.status).toBe(503);
    expect(byHost.body).toContain(id);
    // Another user's address is still nobody's.
    expect((await fetch(`${nginx.url}/u/${admin.userId}/`)).status).toBe(404);
    expect(logged).toEqual([]);
  });
});
