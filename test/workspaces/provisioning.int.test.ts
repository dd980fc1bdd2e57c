import Docker from 'dockerode';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarize } from '../../src/audit/index.ts';
import { workspaceStreamId } from '../../src/commands/workspaces/index.ts';
import { open, seal } from '../../src/identity/index.ts';
import { aesKey } from '../../src/identity/tokens/crypto.ts';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { agentClient, agentKeys, Reconciler } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { provisioningWorkers, type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

interface WorkspaceBody {
  id: string;
  status: string;
  agent_id: string | null;
  container_name: string | null;
  failure: { step: string; reason: string } | null;
}

describe('the provisioning saga with a real agent and dockerd', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let worker: Worker;
  let admin: SignedInUser;
  let image: string;
  /** A second key for the same agent, to look at its containers as the test (not through Warden). */
  let inspector: ReturnType<typeof agentClient>;
  let slug: string;
  let agentId: string;

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent, image] = await Promise.all([
      testApp(freshPGlite),
      startAgent(daemon),
      importBaseImage(daemon),
    ]);
    worker = await provisioningWorkers(t);
    slug = (await t.tenant(undefined, 'free')).slug;
    admin = await t.user({ tenant: slug, role: 'admin' });
    // Warden enrols the agent; the test then reads the agent's key from Warden's table to look too.
    agentId = (await registerAgentViaApi(t, admin, agent, { name: 'host-a' })).id;
    const key = await agentKeys(t.database.db as never, t.identity.sealer).get(agentId);
    inspector = agentClient({ url: agent.url, key: key ?? '' });
  });
  afterAll(async () => {
    await worker?.stop();
    await agent?.dispose();
    await daemon?.stop();
    await t?.dispose();
  });

  const read = async (id: string) =>
    (await (
      await t.request(`/v1/workspaces/${id}`, { token: admin.token, tenant: slug })
    ).json()) as WorkspaceBody;
  const until = async (id: string, statuses: string[], timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: WorkspaceBody | undefined;
    while (Date.now() < deadline) {
      last = await read(id);
      if (statuses.includes(last.status)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`workspace ${id} is ${JSON.stringify(last)}, not ${statuses.join('/')}`);
  };
  const containersOf = async (id: string) => (await inspector.list([`warden.workspace=${id}`])).items;

  it('takes a request to ready: one container named after the workspace, running and answering', async () => {
    const member = await t.user({ tenant: slug, role: 'member' });
    const answer = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: slug,
      json: { image, resources: { cpus: 0.5, memory_mb: 64 } },
    });
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as WorkspaceBody;
    const ready = await until(id, ['ready', 'failed']);
    expect(ready).toMatchObject({ status: 'ready', container_name: `warden-ws-${id}`, failure: null });
    const containers = await containersOf(id);
    expect(containers).toHaveLength(1);
    expect(containers[0]).toMatchObject({ name: `warden-ws-${id}`, running: true });
    const port = containers[0]?.ports[0]?.host_port;
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('workspace\n');
    // From placed to ready in one handling of the placement (create, start, port, route, ready),
    // not one pickup and transaction per step: every step after it is caused by that one event.
    const history = await t.store.readStream(workspaceStreamId(id));
    const placed = history.find((e) => e.type === 'WorkspacePlaced');
    const chained = [
      'WorkspaceContainerCreated',
      'WorkspaceContainerStarted',
      'WorkspaceRoutePublished',
      'WorkspaceReady',
    ];
    expect(
      history.filter((e) => chained.includes(e.type)).map((e) => [e.type, e.metadata.causationId]),
    ).toEqual(chained.map((type) => [type, placed?.id]));

    // Stop and start: the container stops and runs again, the workspace is ready again.
    expect(
      (await t.request(`/v1/workspaces/${id}/stop`, { token: member.token, tenant: slug, method: 'POST' }))
        .status,
    ).toBe(202);
    await until(id, ['stopped']);
    expect((await containersOf(id))[0]?.running).toBe(false);
    expect(
      (await t.request(`/v1/workspaces/${id}/start`, { token: member.token, tenant: slug, method: 'POST' }))
        .status,
    ).toBe(202);
    await until(id, ['ready']);
    expect((await containersOf(id))[0]?.running).toBe(true);
    // Started again from the request to start, in one handling too, with the port it now publishes.
    const restarted = (await t.store.readStream(workspaceStreamId(id))).slice(history.length);
    const startRequest = restarted.find((e) => e.type === 'WorkspaceStartRequested');
    expect(
      restarted.filter((e) => chained.slice(1).includes(e.type)).map((e) => [e.type, e.metadata.causationId]),
    ).toEqual(chained.slice(1).map((type) => [type, startRequest?.id]));

    // Deletion runs in reverse; the container is gone and the plan's one slot is free again.
    const deleted = await t.request(`/v1/workspaces/${id}?delete_data=true`, {
      token: admin.token,
      tenant: slug,
      method: 'DELETE',
    });
    expect(deleted.status).toBe(202);
    const deadline = Date.now() + 30_000;
    while ((await t.request(`/v1/workspaces/${id}`, { token: admin.token, tenant: slug })).status !== 404) {
      if (Date.now() > deadline) throw new Error('the workspace was not deleted');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await containersOf(id)).toEqual([]);
  });

  it('refuses an image no agent holds before anything is recorded: 422 naming it, no workspace, no container', async () => {
    const member = await t.user({ tenant: slug, role: 'member' });
    const before = await t.store.headPosition();
    let answer = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: slug,
      json: { image: 'nowhere/nothing:404' },
    });
    // The free plan's slot may still be held a moment by the deleted workspace above (its release is the saga's last step).
    for (let i = 0; answer.status === 409 && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await t.request('/v1/workspaces', {
        token: member.token,
        tenant: slug,
        json: { image: 'nowhere/nothing:404' },
      });
    }
    expect(answer.status).toBe(422);
    const problem = (await answer.json()) as { errors: Array<{ path: string; message: string }> };
    expect(problem.errors[0]?.path).toBe('image');
    expect(problem.errors[0]?.message).toContain('nowhere/nothing:404');
    expect(await t.store.readAll({ after: before, types: ['WorkspaceRequested'] })).toEqual([]);
    const mine = (await (
      await t.request('/v1/workspaces', { token: member.token, tenant: slug })
    ).json()) as { items: unknown[] };
    expect(mine.items).toEqual([]);
  });

  it('deprovisions the workspace of a user removed from the tenant (identity’s UserRemoved)', async () => {
    const member = await t.user({ tenant: slug, role: 'member' });
    let answer = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: slug,
      json: { image, user_id: member.userId },
    });
    // The free plan's one slot frees once the failed workspace above is deleted.
    const failedOnes = (await (
      await t.request('/v1/workspaces?state=failed', { token: admin.token, tenant: slug })
    ).json()) as {
      items: Array<{ id: string }>;
    };
    for (const failed of failedOnes.items) {
      await t.request(`/v1/workspaces/${failed.id}`, { token: admin.token, tenant: slug, method: 'DELETE' });
    }
    for (let i = 0; answer.status === 409 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await t.request('/v1/workspaces', {
        token: admin.token,
        tenant: slug,
        json: { image, user_id: member.userId },
      });
    }
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as WorkspaceBody;
    await until(id, ['ready']);
    expect(await containersOf(id)).toHaveLength(1);

    const removed = await t.request(`/v1/users/${member.userId}`, {
      token: admin.token,
      tenant: slug,
      method: 'DELETE',
    });
    expect(removed.status).toBe(204);
    const deadline = Date.now() + 30_000;
    while ((await t.request(`/v1/workspaces/${id}`, { token: admin.token, tenant: slug })).status !== 404) {
      if (Date.now() > deadline) throw new Error('the removed user’s workspace was not deprovisioned');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await containersOf(id)).toEqual([]);
  });

  it('reconciles: an orphan container is reported, then removed after the grace period; a vanished container is marked and repaired by policy (recreate, then mark)', async () => {
    let now = new Date('2026-12-02T12:00:00Z');
    const reconciler = new Reconciler({
      db: t.database.db as never,
      store: t.store,
      clock: () => now,
      graceMs: 60_000,
      keys: agentKeys(t.database.db as never, t.identity.sealer),
      logger: { info: () => {}, warn: () => {} },
    });
    const stray = crypto.randomUUID();
    await inspector.create({ name: `warden-ws-${stray}`, image, labels: { 'warden.workspace': stray } });
    const first = await reconciler.sync();
    expect(first.orphans.map((o) => o.workspaceId)).toEqual([stray]);
    expect(first.removed).toEqual([]);
    now = new Date(now.getTime() + 61_000);
    const second = await reconciler.sync();
    expect(second.removed.map((r) => r.container)).toEqual([`warden-ws-${stray}`]);
    expect(await containersOf(stray)).toEqual([]);

    // A ready workspace whose container disappears behind Warden's back is reported missing.
    const member = await t.user({ tenant: slug, role: 'member' });
    let answer = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: slug,
      json: { image, user_id: member.userId },
    });
    for (let i = 0; answer.status === 409 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await t.request('/v1/workspaces', {
        token: admin.token,
        tenant: slug,
        json: { image, user_id: member.userId },
      });
    }
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as WorkspaceBody;
    await until(id, ['ready']);
    await t.engine.waitFor(
      ['workspaceList'],
      BigInt((await t.store.readStream(workspaceStreamId(id))).at(-1)?.position ?? 0n),
      5_000,
    );
    expect((await reconciler.sync()).missing).toEqual([]);
    // Removed behind Warden's back, straight on the daemon (`docker rm -f`).
    const docker = new Docker({ socketPath: daemon.socket });
    const before = (await containersOf(id))[0]?.id;
    expect(before).toEqual(expect.any(String));
    await docker.getContainer(`warden-ws-${id}`).remove({ force: true });
    const third = await reconciler.sync();
    expect(third.missing).toEqual([{ workspaceId: id, agentId: expect.any(String), status: 'ready' }]);
    expect(third.orphans).toEqual([]);
    // Default policy `recreate`: a new container with the same name on the same agent, ready again.
    const lostEvents = async () =>
      (await t.store.readStream(workspaceStreamId(id))).filter((e) => e.type === 'WorkspaceContainerLost');
    expect(await lostEvents()).toHaveLength(1);
    const back = await until(id, ['ready', 'failed']);
    expect(back).toMatchObject({ status: 'ready', agent_id: agentId, container_name: `warden-ws-${id}` });
    const again = await containersOf(id);
    expect(again).toHaveLength(1);
    expect(again[0]?.running).toBe(true);
    expect(again[0]?.id).not.toBe(before);
    await t.engine.waitFor(
      ['workspaceList'],
      BigInt((await t.store.readStream(workspaceStreamId(id))).at(-1)?.position ?? 0n),
      5_000,
    );
    expect((await reconciler.sync()).missing).toEqual([]);

    // Policy `mark`: the vanished container fails the workspace with the reason, nothing is recreated.
    const set = await t.request('/v1/workspace-settings', {
      token: admin.token,
      tenant: slug,
      method: 'PUT',
      json: { on_container_lost: 'mark' },
    });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ on_agent_loss: 'recreate', on_container_lost: 'mark' });
    await docker.getContainer(`warden-ws-${id}`).remove({ force: true });
    expect((await reconciler.sync()).missing).toEqual([
      { workspaceId: id, agentId: expect.any(String), status: 'ready' },
    ]);
    const failed = await until(id, ['failed']);
    expect(failed.failure).toEqual({ step: 'create', reason: 'container vanished' });
    expect(await lostEvents()).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(await containersOf(id)).toEqual([]);
    expect((await read(id)).status).toBe('failed');
    const [lost] = await lostEvents();
    expect(summarize(lost as never)).toBe(
      `Workspace ${id}: container lost on agent ${agentId} (container vanished)`,
    );
    const policySet = (await t.store.readStream(`workspaces.Settings-${admin.tenantId}`)).at(-1);
    expect(policySet?.type).toBe('WorkspaceLossPolicySet');
    expect(summarize(policySet as never)).toBe(
      `Workspace loss policy set by ${admin.userId}: on agent loss recreate, on a vanished container mark`,
    );
  });

  it('keeps the agent key sealed with the key-encryption key: the row does not hold it, calls are still signed with it, and a row from before sealing is sealed on its first read', async () => {
    const keys = agentKeys(t.database.db as never, t.identity.sealer);
    const rowOf = async () =>
      (
        await sql<{
          agent_key: string;
        }>`select agent_key from warden_workspace_agent_keys where agent_id = ${agentId}`.execute(
          t.database.db,
        )
      ).rows[0]?.agent_key ?? '';
    const key = (await keys.get(agentId)) ?? '';
    expect(key).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const stored = await rowOf();
    expect(stored).not.toContain(key);
    expect(stored).toMatch(/^v1\./);
    // Signed with the opened key, the agent accepts the call; signed with the stored text, it refuses.
    expect((await agentClient({ url: agent.url, key }).health()).status).toBe('ok');
    await expect(async () => agentClient({ url: agent.url, key: stored }).health()).rejects.toThrow();
    // Another key-encryption key opens nothing.
    const other = await aesKey(crypto.getRandomValues(new Uint8Array(32)));
    const foreign = {
      seal: (p: string, c: string) => seal(other, p, c),
      open: (v: string, c: string) => open(other, v, c),
    };
    await expect(agentKeys(t.database.db as never, foreign).get(agentId)).rejects.toThrow();

    // A row written in clear before keys were sealed still works, and is sealed by that read.
    await sql`update warden_workspace_agent_keys set agent_key = ${key} where agent_id = ${agentId}`.execute(
      t.database.db,
    );
    expect(await keys.get(agentId)).toBe(key);
    const resealed = await rowOf();
    expect(resealed).toMatch(/^v1\./);
    expect(resealed).not.toContain(key);
    expect(await keys.get(agentId)).toBe(key);
  });
  it('ends every workspace of a deleted tenant (containers removed, routes withdrawn) and forgets its registry credentials; another tenant’s stay', async () => {
    const agents = await Promise.all([startAgent(daemon), startAgent(daemon)]);
    try {
      /** A new tenant with its own agent and one ready workspace per user given (owner first). */
      const tenantWith = async (agentOf: RunningAgent, roles: Array<'owner' | 'member'>) => {
        const tenant = await t.tenant(undefined, 'enterprise');
        const users = [];
        for (const role of roles) users.push(await t.user({ tenant: tenant.slug, role }));
        const owner = users[0]!;
        const as = (path: string, init: Parameters<TestApp['request']>[1] = {}) =>
          t.request(path, { token: owner.token, tenant: tenant.slug, ...init });
        const { id: ownAgent } = await registerAgentViaApi(t, owner, agentOf, { name: 'host-own' });
        const ids: string[] = [];
        for (const user of users) {
          const answer = await as('/v1/workspaces', {
            json: {
              image,
              user_id: user.userId,
              agent_id: ownAgent,
              resources: { cpus: 0.1, memory_mb: 16 },
            },
          });
          expect(answer.status, await answer.clone().text()).toBe(202);
          ids.push(((await answer.json()) as WorkspaceBody).id);
        }
        const status = async (id: string) =>
          ((await (await as(`/v1/workspaces/${id}`)).json()) as WorkspaceBody).status;
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline && !(await Promise.all(ids.map(status))).every((s) => s === 'ready')) {
          await new Promise((r) => setTimeout(r, 200));
        }
        return { tenant, as, ids };
      };
      const running = async (ids: string[]) =>
        (await Promise.all(ids.map(containersOf))).reduce((n, items) => n + items.length, 0);
      const routed = async (tenantId: string) => {
        await t.engine.waitFor(['workspaceRoutes'], await t.store.headPosition(), 10_000);
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from workspace_routes where tenant_id = ${tenantId}`.execute(
          t.database.db,
        );
        return rows[0]?.n;
      };
      const registryRows = async (tenantId: string) =>
        (
          await sql`select 1 from warden_image_registries where tenant_id = ${tenantId}`.execute(
            t.database.db,
          )
        ).rows.length;

      const [doomed, bystander] = await Promise.all([
        tenantWith(agents[0]!, ['owner', 'member']),
        tenantWith(agents[1]!, ['owner']),
      ]);
      for (const { as } of [doomed, bystander]) {
        const set = await as('/v1/images/registry', {
          method: 'PUT',
          json: {
            url: 'https://registry.example.com',
            username: 'ci',
            password: `pw-${crypto.randomUUID()}`,
          },
        });
        expect(set.status).toBe(200);
      }
      expect(await running(doomed.ids)).toBe(2);
      expect(await running(bystander.ids)).toBe(1);
      expect(await routed(doomed.tenant.id)).toBe(2);

      const deleted = await doomed.as(`/v1/tenants/${doomed.tenant.id}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);

      const deadline = Date.now() + 60_000;
      const deletions = async () =>
        (await Promise.all(doomed.ids.map((id) => t.store.readStream(workspaceStreamId(id))))).map((events) =>
          events.filter((e) => e.type === 'WorkspaceDeletionRequested' || e.type === 'WorkspaceDeleted'),
        );
      while ((await running(doomed.ids)) > 0 || (await deletions()).some((events) => events.length < 2)) {
        if (Date.now() > deadline) throw new Error('the deleted tenant’s workspaces were not all deleted');
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const events of await deletions())
        expect(events[0]?.data).toMatchObject({ reason: 'tenant_deleted' });
      expect(await routed(doomed.tenant.id)).toBe(0);
      expect(await registryRows(doomed.tenant.id)).toBe(0);
      // The other tenant: its workspace still runs and is routed, its registry still set.
      expect(await running(bystander.ids)).toBe(1);
      expect(await routed(bystander.tenant.id)).toBe(1);
      expect(await registryRows(bystander.tenant.id)).toBe(1);
    } finally {
      await Promise.all(agents.map((agentOf) => agentOf.dispose()));
    }
  });
});
