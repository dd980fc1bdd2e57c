import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { agentKeys, agentStatsReader, agentStatsSamples } from '../../src/workspaces/index.ts';
import { startWorkspaceBackground, type WorkspaceBackground } from '../../src/workspaces-stack.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import {
  expectForeignIdsNotFound,
  expectMatrix,
  type ProtectedRoute,
  type Send,
  sender,
} from '../tenancy/authorization.ts';
import { provisioningWorkers, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';
import { type BlackholeAgent, startBlackholeAgent } from './blackhole-agent.ts';

const TIMEOUT_MS = 300;
const TTL_MS = 10_000;

describe('agent statistics: asked in parallel, bounded per agent, cached, and a day of samples', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let hole: BlackholeAgent;
  let image: string;
  let worker: Worker | undefined;
  let background: WorkspaceBackground | undefined;
  let send: Send;
  let tenant: { id: string; slug: string };
  let admin: SignedInUser;
  let operator: SignedInUser;
  let realId: string;
  let holeId: string;
  /** The app's clock runs with real time, moved forward by the test to expire cached answers. */
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);

  const register = async (name: string, url: string, token: string) =>
    (await registerAgentViaApi(t, admin, { url, token }, { name })).id;
  const get = (path: string, as: SignedInUser = operator) =>
    t.request(path, { token: as.token, tenant: as.tenantSlug });
  const systemCalls = () => hole.silent().filter((line) => line === 'GET /v1/system').length;

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent, image, hole] = await Promise.all([
      testApp(freshPGlite, {
        clock,
        env: { WARDEN_AGENT_STATS_TIMEOUT_MS: String(TIMEOUT_MS), WARDEN_AGENT_STATS_TTL_MS: String(TTL_MS) },
      }),
      startAgent(daemon),
      importBaseImage(daemon),
      startBlackholeAgent(),
    ]);
    send = sender(t);
    tenant = await t.tenant(undefined, 'enterprise');
    admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    operator = await t.user({ tenant: tenant.slug, role: 'operator' });
    realId = await register('host-real', agent.url, agent.token);
    holeId = await register('host-blackholed', hole.url, 'enrol-anything-will-do');
  });
  afterAll(async () => {
    await background?.stop();
    await worker?.stop();
    await agent?.dispose();
    await hole?.close();
    await daemon?.stop();
    await t?.dispose();
  });

  it('lists the real agent’s CPU, memory and disk, and the blackholed one as unreachable with the reason', async () => {
    const listed = await get('/v1/agents?with=stats');
    expect(listed.status, await listed.clone().text()).toBe(200);
    const items = ((await listed.json()) as { items: LooseJson[] }).items;
    const real = items.find((a) => a.id === realId);
    const dead = items.find((a) => a.id === holeId);
    expect(real?.stats).toMatchObject({
      agent_id: realId,
      status: 'ok',
      reason: null,
      workspaces: { running: 0 },
    });
    expect(real?.stats.cpu.cores).toBeGreaterThan(0);
    expect(real?.stats.memory.total_bytes).toBeGreaterThan(0);
    expect(real?.stats.memory.used_bytes).toBeGreaterThan(0);
    expect(real?.stats.disk.total_bytes).toBeGreaterThan(0);
    expect(real?.stats.containers).toMatchObject({ running: expect.any(Number), total: expect.any(Number) });
    expect(dead?.stats).toMatchObject({
      agent_id: holeId,
      status: 'unreachable',
      reason: expect.stringMatching(/^no answer within \d+ ms$/),
      cpu: null,
      memory: null,
      disk: null,
    });
    // Given what the page had left of the bound, never less than half of it.
    const given = Number(/\d+/.exec(dead?.stats.reason as string)?.[0]);
    expect(given).toBeGreaterThanOrEqual(TIMEOUT_MS / 2);
    expect(given).toBeLessThanOrEqual(TIMEOUT_MS);
    // The blackhole did receive the signed call, and never answered it.
    expect(systemCalls()).toBe(1);

    // Without `with=stats` nobody is asked.
    const plain = ((await (await get('/v1/agents')).json()) as { items: LooseJson[] }).items;
    expect(plain.map((a) => a.stats)).toEqual([undefined, undefined]);
    expect(systemCalls()).toBe(1);
  });

  it('asks each agent once per TTL, however many requests arrive at once (flood)', async () => {
    offset += TTL_MS + 1;
    const before = systemCalls();
    const flood = await Promise.all(
      Array.from(
        { length: 8 },
        async () => (await (await get(`/v1/agents/${holeId}/stats`)).json()) as LooseJson,
      ),
    );
    for (const answer of flood) expect(answer).toMatchObject({ status: 'unreachable', agent_id: holeId });
    expect(systemCalls()).toBe(before + 1);
    // Within the TTL: the same answer again, the agent not asked.
    const again = (await (await get(`/v1/agents/${holeId}/stats`)).json()) as LooseJson;
    expect(again.sampled_at).toBe(flood[0]?.sampled_at);
    expect(systemCalls()).toBe(before + 1);
    // Past it: asked anew.
    offset += TTL_MS + 1;
    await get(`/v1/agents/${holeId}/stats`);
    expect(systemCalls()).toBe(before + 2);
  });

  it('counts a running workspace on the agent that runs it', async () => {
    worker = await provisioningWorkers(t, 1);
    const member = await t.user({ tenant: tenant.slug, role: 'member' });
    const requested = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: tenant.slug,
      json: { user_id: member.userId, image, agent_id: realId, resources: { cpus: 0.1, memory_mb: 16 } },
    });
    expect(requested.status, await requested.clone().text()).toBe(202);
    const { id } = (await requested.json()) as { id: string };
    const deadline = Date.now() + 60_000;
    let status = '';
    while (Date.now() < deadline && !['ready', 'failed'].includes(status)) {
      await new Promise((r) => setTimeout(r, 200));
      status = ((await (await get(`/v1/workspaces/${id}`, admin)).json()) as { status: string }).status;
    }
    expect(status).toBe('ready');
    offset += TTL_MS + 1;
    // The count comes from the workspace list, a read model: the client names the position it has
    // seen (here, everything written so far), as one holding the workspace's X-Position would.
    const seen = String(await t.store.headPosition());
    const answered = await t.request(`/v1/agents/${realId}/stats`, {
      token: operator.token,
      tenant: tenant.slug,
      headers: { 'x-min-position': seen },
    });
    const stats = (await answered.json()) as LooseJson;
    expect(stats).toMatchObject({ status: 'ok', workspaces: { running: 1 } });
    expect(stats.containers.running).toBeGreaterThanOrEqual(1);
  });

  it('lets operators and up read statistics; a member is 403, another tenant 404, bad input 400', async () => {
    const view = ['workspaces:view', 'workspaces:manage'] as const;
    const routes: ProtectedRoute[] = [
      {
        name: 'GET stats',
        permission: view,
        prepare: () => ({ method: 'GET', path: `/v1/agents/${realId}/stats` }),
      },
      {
        name: 'GET stats history',
        permission: view,
        prepare: () => ({ method: 'GET', path: `/v1/agents/${realId}/stats/history` }),
      },
      {
        name: 'GET agents with stats',
        permission: view,
        prepare: () => ({ method: 'GET', path: '/v1/agents?with=stats' }),
      },
    ];
    const table = await expectMatrix(send, tenant, routes);
    expect(table['GET stats']).toMatchObject({ operator: 200, admin: 200, member: 403, approver: 403 });

    const intruder = await t.tenant(undefined, 'enterprise');
    await expectForeignIdsNotFound(send, tenant, intruder, routes.slice(0, 2));
    // The intruder's own list shows none of the tenant's agents.
    const theirs = await send({
      method: 'GET',
      path: '/v1/agents?with=stats',
      as: 'owner',
      tenant: intruder,
    });
    expect(((await theirs.json()) as { items: unknown[] }).items).toEqual([]);

    for (const [path, field] of [
      ['/v1/agents?with=cpu', 'query.with'],
      [`/v1/agents/${realId}/stats/history?since=yesterday`, 'query.since'],
      ['/v1/agents/not-a-uuid/stats', 'path.id'],
    ] as const) {
      const bad = await get(path);
      expect(bad.status, path).toBe(400);
      expect(bad.headers.get('content-type')).toBe('application/problem+json');
      const problem = (await bad.json()) as { errors: Array<{ path: string }> };
      expect(problem.errors.map((e) => e.path)).toContain(field);
    }
  });

  it('keeps a day of samples taken by the lease holder for a sparkline, and sweeps older ones', async () => {
    const db = t.database.db as Kysely<unknown>;
    const samples = agentStatsSamples(db);
    const old = new Date(clock().getTime() - 25 * 60 * 60 * 1000);
    await samples.record(tenant.id, realId, {
      status: 'ok',
      sampledAt: old,
      cpu: { cores: 1, load1: 0 },
      memory: { totalBytes: 1, usedBytes: 1 },
      disk: { totalBytes: 1, usedBytes: 1 },
      containers: { total: 0, running: 0 },
    });
    background = startWorkspaceBackground({
      config: loadConfig({
        WARDEN_AGENT_HEARTBEAT_MS: '200',
        WARDEN_AGENT_SILENCE_MS: '86400000',
        WARDEN_AGENT_STATS_SAMPLE_MS: '1000',
        WARDEN_AGENT_STATS_TIMEOUT_MS: String(TIMEOUT_MS),
      }),
      database: t.database,
      store: t.store,
      keys: agentKeys(db, t.identity.sealer),
      owner: 'agent-stats-test',
      logger: createLogger('silent'),
      clock,
    });
    const history = async (agentId: string, query = '') =>
      (await (await get(`/v1/agents/${agentId}/stats/history${query}`)).json()) as LooseJson;
    const deadline = Date.now() + 30_000;
    let real = await history(realId);
    while (Date.now() < deadline && real.items.length < 2) {
      await new Promise((r) => setTimeout(r, 250));
      real = await history(realId);
    }
    expect(real.items.length).toBeGreaterThanOrEqual(2);
    expect(real.items[0]).toMatchObject({ cpu: { cores: expect.any(Number) }, containers: { running: 1 } });
    expect(Date.parse(real.items[0].sampled_at)).toBeLessThan(Date.parse(real.items[1].sampled_at));
    // The blackholed agent never answered: its sparkline is empty, not made up.
    expect((await history(holeId)).items).toEqual([]);
    // The sample of 25 hours ago is gone from the table, not only hidden by the day's window.
    expect(await samples.history(tenant.id, realId, new Date(0))).not.toContainEqual(
      expect.objectContaining({ sampledAt: old }),
    );
    const later = await history(
      realId,
      `?since=${encodeURIComponent(new Date(clock().getTime() + 60_000).toISOString())}`,
    );
    expect(later.items).toEqual([]);
  });
});

describe('agent statistics: bounded from the page’s arrival', () => {
  it('gives the agents what the page has left of the timeout, never less than half of it', async () => {
    const silent = await startBlackholeAgent();
    try {
      const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
      const reader = agentStatsReader({
        keys: { get: async () => key },
        clock: () => new Date(),
        timeoutMs: 400,
        ttlMs: 0,
      });
      const agent = { id: crypto.randomUUID(), url: silent.url };
      const reasons = await Promise.all(
        [undefined, 100, 300, 1000, Number.NaN, -5].map(async (spent) => {
          const answer = await reader.read(agent, spent);
          return answer.status === 'unreachable' ? answer.reason : answer.status;
        }),
      );
      expect(reasons).toEqual([
        'no answer within 400 ms',
        'no answer within 300 ms',
        'no answer within 200 ms',
        'no answer within 200 ms',
        'no answer within 400 ms',
        'no answer within 400 ms',
      ]);
      const all = await reader.readAll([agent], 150);
      expect(all.get(agent.id)).toMatchObject({ status: 'unreachable', reason: 'no answer within 250 ms' });
    } finally {
      await silent.close();
    }
  });
});
