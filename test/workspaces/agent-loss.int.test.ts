import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactionBindingFor } from '../../src/eventstore/postgres/transactional-store.ts';
import { startWorkers, type Worker } from '../../src/processes/runtime/index.ts';
import { workspaceProvisioning } from '../../src/processes/workspaces/index.ts';
import { AgentMonitor, agentClient, agentKeys } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { type RunningAgent, startAgent } from './agent-support.ts';

interface WorkspaceBody {
  id: string;
  status: string;
  agent_id: string | null;
}

describe('agent loss: two agents, each with its own dockerd; one dies, its workspace comes back on the other', () => {
  let t: TestApp;
  let daemons: Dockerd[] = [];
  let agents: RunningAgent[] = [];
  let worker: Worker;
  let monitor: AgentMonitor;
  let admin: SignedInUser;
  let image: string;
  const agentIds: string[] = [];

  beforeAll(async () => {
    // Two daemons side by side: separate data and exec roots, sockets, pidfiles and bridges.
    daemons = await Promise.all([startDockerd(), startDockerd()]);
    const [first, second] = daemons as [Dockerd, Dockerd];
    [image] = await Promise.all([importBaseImage(first), importBaseImage(second)]);
    [t, ...agents] = await Promise.all([testApp(freshPGlite), startAgent(first), startAgent(second)]);
    worker = await startWorkers({
      database: t.database,
      store: t.store,
      storeIn: transactionBindingFor(t.database, t.store),
      processes: [workspaceProvisioning],
      personalData: t.personalData,
      sealer: t.identity.sealer,
      partitions: 2,
    });
    admin = await t.user({ role: 'admin' });
    let position = '0';
    for (const [i, agent] of agents.entries()) {
      const registered = await t.request('/v1/agents', {
        token: admin.token,
        tenant: admin.tenantSlug,
        json: {
          name: `host-${i}`,
          url: agent.url,
          enrolment_token: agent.token,
          capacity: { cpus: 4, memory_mb: 4096, workspaces: 10 },
        },
      });
      expect(registered.status).toBe(201);
      agentIds.push(((await registered.json()) as { id: string }).id);
      position = registered.headers.get('x-position') ?? position;
    }
    await t.engine.waitFor(['workspaceAgentList'], BigInt(position), 5_000);
    monitor = new AgentMonitor({
      db: t.database.db as never,
      store: t.store,
      clock: () => new Date(),
      silentAfterMs: 1_500,
      keys: agentKeys(t.database.db as never, t.identity.sealer),
      intervalMs: 250,
      logger: { info: () => {}, warn: () => {}, error: () => {} },
    });
    monitor.start();
  });
  afterAll(async () => {
    await monitor?.stop();
    await worker?.stop();
    await Promise.all(agents.map((a) => a.dispose()));
    await Promise.all(daemons.map((d) => d.stop()));
    await t?.dispose();
  });

  const read = async (id: string) =>
    (await (
      await t.request(`/v1/workspaces/${id}`, { token: admin.token, tenant: admin.tenantSlug })
    ).json()) as WorkspaceBody;
  const until = async (id: string, ok: (w: WorkspaceBody) => boolean, timeoutMs = 40_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = await read(id);
    while (!ok(last) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      last = await read(id);
    }
    return last;
  };

  it('marks the workspace unavailable when its agent falls silent, and recreates it on the other agent', async () => {
    const [lostId, survivorId] = agentIds as [string, string];
    const answer = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: admin.tenantSlug,
      json: { image, user_id: admin.userId, agent_id: lostId },
    });
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as WorkspaceBody;
    expect(await until(id, (w) => w.status === 'ready')).toMatchObject({ status: 'ready', agent_id: lostId });
    // Heartbeats are in the database: the API (any process) shows when each agent last answered.
    const heartbeatOf = async (agentId: string) => {
      const listed = (await (
        await t.request('/v1/agents', { token: admin.token, tenant: admin.tenantSlug })
      ).json()) as { items: { id: string; last_heartbeat_at: string | null }[] };
      return listed.items.find((a) => a.id === agentId)?.last_heartbeat_at ?? null;
    };
    await expect.poll(() => heartbeatOf(lostId), { timeout: 5_000 }).not.toBeNull();
    const single = (await (
      await t.request(`/v1/agents/${lostId}`, { token: admin.token, tenant: admin.tenantSlug })
    ).json()) as { last_heartbeat_at: string | null };
    expect(Date.parse(single.last_heartbeat_at ?? '')).toBeGreaterThan(Date.now() - 10_000);

    // The host dies: its agent is killed (its dockerd keeps running, unreachable to Warden).
    await agents[0]?.stop('SIGKILL');
    const moved = await until(id, (w) => w.status === 'ready' && w.agent_id === survivorId);
    expect(moved).toMatchObject({ status: 'ready', agent_id: survivorId });
    // The lost agent's last heartbeat stays where it was; the survivor's keeps moving.
    const lostSeen = await heartbeatOf(lostId);
    await new Promise((r) => setTimeout(r, 600));
    expect(await heartbeatOf(lostId)).toBe(lostSeen);
    expect(Date.parse((await heartbeatOf(survivorId)) ?? '')).toBeGreaterThan(Date.now() - 2_000);

    const key = await agentKeys(t.database.db as never, t.identity.sealer).get(survivorId);
    const survivor = agentClient({ url: agents[1]?.url ?? '', key: key ?? '' });
    const containers = (await survivor.list([`warden.workspace=${id}`])).items;
    expect(containers).toHaveLength(1);
    expect(containers[0]?.running).toBe(true);
    const port = containers[0]?.ports[0]?.host_port;
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('workspace\n');
  });
});
