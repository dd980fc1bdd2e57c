import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { agentKeys, NginxRouter, TrafficTailer } from '../../src/workspaces/index.ts';
import { startWorkspaceBackground } from '../../src/workspaces-stack.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, type Nginx, startDockerd, startNginx } from '../support/docker.ts';
import { provisioningWorkers, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';
import { enterWorkspace, throughNginx } from './nginx-session.ts';

const domain = 'workspaces.example.com';

/** The workspace's sessions, by path and by host (see nginx-session.ts): every request below carries one. */
const sessions = { path: '', host: '' };

/** A request through nginx with a Host header of our choosing, the session for it, and an optional body. */
async function through(port: number, host: string, path: string, body?: string): Promise<number> {
  const cookie = host === 'localhost' ? sessions.path : sessions.host;
  const answer = await throughNginx(port, {
    host,
    path,
    ...(body ? { method: 'POST', body } : {}),
    headers: { connection: 'close', cookie },
  });
  return answer.status;
}

describe('workspace traffic: nginx’s JSON access log, read incrementally, per minute and per tenant', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let nginx: Nginx;
  let worker: Worker;
  let router: NginxRouter;
  let tailer: TrafficTailer;
  let admin: SignedInUser;
  let member: SignedInUser;
  let workspaceId: string;
  let log: string;
  let logDir: string | undefined;
  let http: Awaited<ReturnType<TestApp['listening']>>;

  beforeAll(async () => {
    daemon = await startDockerd();
    let image: string;
    [t, agent, image, nginx] = await Promise.all([
      testApp(freshPGlite),
      startAgent(daemon),
      importBaseImage(daemon),
      startNginx(),
    ]);
    // A folder nginx's worker (not root) can reach: on `nginx -s reopen` the worker opens the new file.
    logDir = mkdtempSync('/tmp/wtl-');
    chmodSync(logDir, 0o777);
    log = join(logDir, 'workspaces-access.log');
    worker = await provisioningWorkers(t, 1);
    const quiet = { info: () => {}, warn: () => {}, error: () => {} };
    http = await t.listening();
    router = new NginxRouter({
      db: t.database.db as Kysely<unknown>,
      target: { routesFile: nginx.routes, command: nginx.command },
      listen: `127.0.0.1:${nginx.port}`,
      domain,
      accessUrl: http.base,
      accessLog: log,
      intervalMs: 100,
      logger: quiet,
    });
    router.start();
    tailer = new TrafficTailer({ db: t.database.db as Kysely<unknown>, file: log, logger: quiet });
    const tenant = await t.tenant(undefined, 'enterprise');
    admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    member = await t.user({ tenant: tenant.slug, role: 'member' });
    await registerAgentViaApi(t, admin, agent, { name: 'host-a' });
    const requested = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: tenant.slug,
      json: { image, resources: { cpus: 0.1, memory_mb: 16 } },
    });
    expect(requested.status).toBe(202);
    workspaceId = ((await requested.json()) as { id: string }).id;
    // Ready and routed: nginx answers the workspace to its user's sessions, by path and by host.
    sessions.path = await enterWorkspace(t, nginx, member, workspaceId);
    sessions.host = await enterWorkspace(t, nginx, member, workspaceId, `${member.userId}.${domain}`);
    expect(await through(nginx.port, 'localhost', `/u/${member.userId}/`)).toBe(200);
  });
  afterAll(async () => {
    await router?.stop();
    await worker?.stop();
    await agent?.dispose();
    await http?.close();
    await Promise.all([daemon?.stop(), nginx?.stop()]);
    if (logDir) rmSync(logDir, { recursive: true, force: true });
    await t?.dispose();
  });

  const traffic = async (as: SignedInUser = member, query = '') => {
    const answer = await t.request(`/v1/workspaces/${workspaceId}/traffic${query}`, {
      token: as.token,
      tenant: as.tenantSlug,
    });
    return { status: answer.status, body: (await answer.json()) as LooseJson };
  };

  /** nginx writes a line once the response is sent: reads until `expected` lines were counted (5 s at most). */
  const ingestUntil = async (expected: number) => {
    const total = { counted: 0, skipped: 0, rotated: false };
    const deadline = Date.now() + 5_000;
    do {
      const report = await tailer.ingest();
      total.counted += report.counted;
      total.skipped += report.skipped;
      total.rotated ||= report.rotated;
      if (total.counted >= expected) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    return total;
  };
  /** Reads what earlier requests left (until a pass finds nothing new). */
  const settle = async () => {
    while ((await ingestUntil(1)).counted > 0);
  };

  it('counts requests by path and by host with their bytes, once, and nothing of the 404 catch-all', async () => {
    await settle();
    const before = (await traffic()).body.totals;
    const body = 'x'.repeat(1000);
    for (let i = 0; i < 3; i++)
      expect(await through(nginx.port, 'localhost', `/u/${member.userId}/`)).toBe(200);
    expect(await through(nginx.port, `${member.userId}.${domain}`, '/')).toBe(200);
    // A request with a body: bytes in grow by at least the body.
    await through(nginx.port, `${member.userId}.${domain}`, '/', body);
    expect(await through(nginx.port, 'localhost', '/nobody/')).toBe(404);

    const report = await ingestUntil(5);
    expect(report).toMatchObject({ counted: 5, skipped: 0, rotated: false });
    const after = await traffic();
    expect(after.status).toBe(200);
    expect(after.body.totals.requests).toBe(before.requests + 5);
    expect(after.body.totals.bytes_in - before.bytes_in).toBeGreaterThan(1000);
    // Each answer carries at least the base image's page and the status line.
    expect(after.body.totals.bytes_out - before.bytes_out).toBeGreaterThan(5 * 20);
    expect(after.body.items[0]).toMatchObject({ minute: expect.stringMatching(/:00\.000Z$/) });

    // Read again: nothing new, nothing counted twice.
    expect(await tailer.ingest()).toMatchObject({ counted: 0 });
    expect((await traffic()).body.totals).toEqual(after.body.totals);
  });

  it('follows a rotated log: the rest of the old file, then the new one from its start', async () => {
    await settle();
    const before = (await traffic()).body.totals.requests as number;
    renameSync(log, `${log}.1`);
    // nginx keeps writing to the renamed file until its worker reopens the logs.
    for (let i = 0; i < 2; i++) await through(nginx.port, 'localhost', `/u/${member.userId}/`);
    execFileSync(nginx.command[0] ?? 'nginx', [...nginx.command.slice(1), '-s', 'reopen'], { stdio: 'pipe' });
    // Until a request lands in the new file (the worker reopens after the master): each one counts.
    let probes = 0;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(existsSync(log) && statSync(log).size > 0)) {
      await through(nginx.port, 'localhost', `/u/${member.userId}/`);
      probes += 1;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(statSync(log).size, readFileSync(join(nginx.dir, 'error.log'), 'utf8')).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) await through(nginx.port, 'localhost', `/u/${member.userId}/`);
    const expected = 2 + probes + 3;
    const report = await ingestUntil(expected);
    expect(report).toMatchObject({ rotated: true, counted: expected });
    expect((await traffic()).body.totals.requests).toBe(before + expected);
  });

  it('exports per-tenant counters, with no workspace label', async () => {
    const text = await (await t.request('/metrics')).text();
    const requests = text.split('\n').filter((l) => l.startsWith('warden_workspace_requests_total{'));
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatch(
      new RegExp(`^warden_workspace_requests_total\\{tenant="${member.tenantId}"\\} \\d+$`),
    );
    expect(Number(requests[0]?.split(' ')[1])).toBeGreaterThanOrEqual(10);
    expect(text).toMatch(
      new RegExp(`warden_workspace_bytes_total\\{tenant="${member.tenantId}",direction="out"\\} \\d+`),
    );
    expect(text).not.toContain(workspaceId);
  });

  it('shows the owner and operators the traffic; another member and another tenant get 404; bad input 400', async () => {
    const operator = await t.user({ tenant: member.tenantSlug, role: 'operator' });
    const other = await t.user({ tenant: member.tenantSlug, role: 'member' });
    const outsider = await t.user({ role: 'owner' });
    expect((await traffic(operator)).status).toBe(200);
    expect((await traffic(other)).status).toBe(404);
    expect((await traffic(outsider)).status).toBe(404);
    const bad = await traffic(member, '?since=an-hour-ago');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('query.since');
    const later = await traffic(
      member,
      `?since=${encodeURIComponent(new Date(Date.now() + 120_000).toISOString())}`,
    );
    expect(later.body.items).toEqual([]);
  });

  it('is read by the process holding the log’s lease, as `warden serve` runs it', async () => {
    await settle();
    const before = (await traffic()).body.totals.requests as number;
    const background = startWorkspaceBackground({
      config: loadConfig({ WARDEN_NGINX_ACCESS_LOG: log, WARDEN_TRAFFIC_INGEST_MS: '200' }),
      database: t.database,
      store: t.store,
      keys: agentKeys(t.database.db as Kysely<unknown>, t.identity.sealer),
      owner: 'traffic-test',
      logger: createLogger('silent'),
    });
    try {
      for (let i = 0; i < 4; i++) await through(nginx.port, 'localhost', `/u/${member.userId}/`);
      const deadline = Date.now() + 20_000;
      let now = before;
      while (Date.now() < deadline && now < before + 4) {
        await new Promise((r) => setTimeout(r, 200));
        now = (await traffic()).body.totals.requests as number;
      }
      expect(now).toBe(before + 4);
    } finally {
      await background.stop();
    }
  });
});
