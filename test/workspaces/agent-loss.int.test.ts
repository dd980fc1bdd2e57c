import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarize } from '../../src/audit/index.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { AgentMonitor, agentClient, agentKeys } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { provisioningWorkers, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

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
    worker = await provisioningWorkers(t);
    admin = await t.user({ role: 'admin' });
    for (const [i, agent] of agents.entries()) {
      agentIds.push((await registerAgentViaApi(t, admin, agent, { name: `host-${i}` })).id);
    }
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

  const putSettings = (token: string, json: unknown) =>
    t.request('/v1/workspace-settings', { token, tenant: admin.tenantSlug, method: 'PUT', json });

  it('refuses a bad loss policy naming the field (400) and a member (403), appending nothing', async () => {
    const stream = `workspaces.Settings-${admin.tenantId}`;
    const before = (await t.store.readStream(stream)).length;
    const bad = await putSettings(admin.token, { on_agent_loss: 'sometimes' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.stringify(await bad.json())).toContain('on_agent_loss');
    const badLost = await putSettings(admin.token, { on_container_lost: 'wait' });
    expect(badLost.status).toBe(400);
    expect(JSON.stringify(await badLost.json())).toContain('on_container_lost');
    const nothing = await putSettings(admin.token, {});
    expect(nothing.status).toBe(422);
    const member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    expect((await putSettings(member.token, { on_agent_loss: 'wait' })).status).toBe(403);
    expect((await t.store.readStream(stream)).length).toBe(before);
    const read = (await (
      await t.request('/v1/workspace-settings', { token: admin.token, tenant: admin.tenantSlug })
    ).json()) as { on_agent_loss: string; on_container_lost: string };
    expect(read).toMatchObject({ on_agent_loss: 'recreate', on_container_lost: 'recreate' });
  });

  it('with policy `wait`: the workspace stays unavailable while its agent is silent, and is ready again on it (same container) when it answers', async () => {
    const [lostId, survivorId] = agentIds as [string, string];
    const set = await putSettings(admin.token, { on_agent_loss: 'wait' });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ on_agent_loss: 'wait', on_container_lost: 'recreate' });
    // A user of its own: one workspace per user, and the next test's is the admin's.
    const owner = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    const answer = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: admin.tenantSlug,
      json: { image, user_id: owner.userId, agent_id: lostId },
    });
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as WorkspaceBody;
    expect(await until(id, (w) => w.status === 'ready')).toMatchObject({ status: 'ready', agent_id: lostId });
    const keys = agentKeys(t.database.db as never, t.identity.sealer);
    const onAgent = async (i: number, agentId: string) =>
      (
        await agentClient({ url: agents[i]?.url ?? '', key: (await keys.get(agentId)) ?? '' }).list([
          `warden.workspace=${id}`,
        ])
      ).items;
    const [container] = await onAgent(0, lostId);
    expect(container?.running).toBe(true);

    await agents[0]?.stop('SIGKILL');
    expect(await until(id, (w) => w.status === 'unavailable')).toMatchObject({ agent_id: lostId });
    // Well past the silence bound and a placement: still unavailable, on its agent, nothing elsewhere.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await read(id)).toMatchObject({ status: 'unavailable', agent_id: lostId });
    expect(await onAgent(1, survivorId)).toEqual([]);

    await agents[0]?.restart();
    expect(await until(id, (w) => w.status === 'ready')).toMatchObject({ status: 'ready', agent_id: lostId });
    const after = await onAgent(0, lostId);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: container?.id, running: true });
    expect(await onAgent(1, survivorId)).toEqual([]);
    const types = (await t.store.readStream(`workspaces.Workspace-${id}`)).map((e) => e.type);
    expect(types.filter((type) => type === 'WorkspaceAgentReturned')).toHaveLength(1);
    expect(types.filter((type) => type === 'WorkspaceContainerCreated')).toHaveLength(1);
    const returned = (await t.store.readStream(`workspaces.Workspace-${id}`)).find(
      (e) => e.type === 'WorkspaceAgentReturned',
    );
    expect(summarize(returned as never)).toBe(
      `Workspace ${id}: agent ${lostId} answers again, container restarted`,
    );

    // Back to the default for the next test.
    expect((await putSettings(admin.token, { on_agent_loss: 'recreate' })).status).toBe(200);
  });

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
    const survivorSeen = await heartbeatOf(survivorId);
    await new Promise((r) => setTimeout(r, 600));
    expect(await heartbeatOf(lostId)).toBe(lostSeen);
    await expect.poll(() => heartbeatOf(survivorId), { timeout: 10_000 }).not.toBe(survivorSeen);

    const key = await agentKeys(t.database.db as never, t.identity.sealer).get(survivorId);
    const survivor = agentClient({ url: agents[1]?.url ?? '', key: key ?? '' });
    const containers = (await survivor.list([`warden.workspace=${id}`])).items;
    expect(containers).toHaveLength(1);
    expect(containers[0]?.running).toBe(true);
    const port = containers[0]?.ports[0]?.host_port;
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('workspace\n');
  });
});
