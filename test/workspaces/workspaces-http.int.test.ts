import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

interface WorkspaceBody {
  id: string;
  user_id: string;
  status: string;
  path: string;
  position: string;
}

describe('workspaces over HTTP: agents, requests, quota, visibility', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let spareAgent: RunningAgent;
  let image: string;
  /** Agents started by a test (one per tenant: an agent enrols once). */
  const more: RunningAgent[] = [];

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent, spareAgent, image] = await Promise.all([
      testApp(freshPGlite),
      startAgent(daemon),
      startAgent(daemon),
      importBaseImage(daemon),
    ]);
  });
  afterAll(async () => {
    await Promise.all([agent?.dispose(), spareAgent?.dispose(), ...more.map((a) => a.dispose())]);
    await daemon?.stop();
    await t?.dispose();
  });

  const register = (token: string, tenant: string, body: Record<string, unknown>) =>
    t.request('/v1/agents', { token, tenant, json: body });
  const capacity = { cpus: 2, memory_mb: 1024, workspaces: 3 };

  /** A tenant (plan `plan`) with an admin and an agent of its own, registered and visible. */
  const tenantWithAgent = async (plan: 'free' | 'enterprise' = 'enterprise') => {
    const own = await startAgent(daemon);
    more.push(own);
    const tenant = await t.tenant(undefined, plan);
    const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    await registerAgentViaApi(t, admin, own, {
      name: 'own-host',
      capacity: { cpus: 8, memory_mb: 8192, workspaces: 20 },
    });
    return { admin, slug: tenant.slug };
  };

  it('lets an admin register an agent (enrolled once), and refuses a member and a wrong token', async () => {
    const admin = await t.user({ role: 'admin' });
    const member = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    const denied = await register(member.token, admin.tenantSlug, {
      name: 'host-a',
      url: agent.url,
      enrolment_token: agent.token,
      capacity,
    });
    expect(denied.status).toBe(403);

    const wrong = await register(admin.token, admin.tenantSlug, {
      name: 'host-a',
      url: agent.url,
      enrolment_token: 'certainly-not-the-token',
      capacity,
    });
    expect(wrong.status).toBe(422);
    expect(JSON.stringify(await wrong.json())).toContain(agent.url);

    const created = await register(admin.token, admin.tenantSlug, {
      name: 'host-a',
      url: agent.url,
      enrolment_token: agent.token,
      labels: ['ssd'],
      capacity,
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; capacity: unknown; labels: string[] };
    expect(body).toMatchObject({ capacity, labels: ['ssd'], state: 'active' });
    expect(created.headers.get('location')).toBe(`/v1/agents/${body.id}`);

    const list = await t.request('/v1/agents', {
      token: admin.token,
      tenant: admin.tenantSlug,
      headers: { 'x-min-position': created.headers.get('x-position') ?? '0' },
    });
    expect(((await list.json()) as { items: Array<{ id: string }> }).items.map((a) => a.id)).toEqual([
      body.id,
    ]);

    const stranger = await t.user({ role: 'admin' });
    const foreign = await t.request(`/v1/agents/${body.id}`, {
      token: stranger.token,
      tenant: stranger.tenantSlug,
    });
    expect(foreign.status).toBe(404);
  });

  it('takes a request for oneself, refuses a second one, another user’s (member) and unknown users, agents and images', async () => {
    const { admin, slug } = await tenantWithAgent();
    const member = await t.user({ tenant: slug, role: 'member' });
    const mine = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: slug,
      json: { image, resources: { cpus: 0.5, memory_mb: 128 } },
    });
    expect(mine.status).toBe(202);
    const workspace = (await mine.json()) as WorkspaceBody;
    expect(workspace).toMatchObject({
      user_id: member.userId,
      status: 'requested',
      path: `/u/${member.userId}/`,
    });

    const again = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: slug,
      json: { image },
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toContain(
      `the user already has a workspace (${workspace.id})`,
    );

    // An image no agent of the tenant holds is refused at request time, naming it; nothing is appended.
    const other = await t.user({ tenant: slug, role: 'member' });
    const before = (await t.store.readAll()).length;
    const unknownImage = await t.request('/v1/workspaces', {
      token: other.token,
      tenant: slug,
      json: { image: 'example/no-such-image:9' },
    });
    expect(unknownImage.status).toBe(422);
    const problem = (await unknownImage.json()) as { errors: Array<{ path: string; message: string }> };
    expect(problem.errors[0]?.path).toBe('image');
    expect(problem.errors[0]?.message).toContain('unknown image example/no-such-image:9');
    expect(problem.errors[0]?.message).toContain('own-host');
    expect((await t.store.readAll()).length).toBe(before);

    const forOther = await t.request('/v1/workspaces', {
      token: member.token,
      tenant: slug,
      json: { image, user_id: admin.userId },
    });
    expect(forOther.status).toBe(403);

    const unknownUser = crypto.randomUUID();
    const noUser = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: slug,
      json: { image, user_id: unknownUser },
    });
    expect(noUser.status).toBe(422);
    expect(JSON.stringify(await noUser.json())).toContain(unknownUser);

    const unknownAgent = crypto.randomUUID();
    const noAgent = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: slug,
      json: { image, agent_id: unknownAgent },
    });
    expect(noAgent.status).toBe(404);
    expect(JSON.stringify(await noAgent.json())).toContain(unknownAgent);
  });

  it('refuses resources beyond the chosen agent’s capacity with the numbers', async () => {
    const admin = await t.user({ role: 'admin' });
    const registered = await register(admin.token, admin.tenantSlug, {
      name: 'small-host',
      url: spareAgent.url,
      enrolment_token: spareAgent.token,
      capacity: { cpus: 1, memory_mb: 256, workspaces: 2 },
    });
    expect(registered.status).toBe(201);
    const agentId = ((await registered.json()) as { id: string }).id;
    const tooBig = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: admin.tenantSlug,
      headers: { 'x-min-position': registered.headers.get('x-position') ?? '0' },
      json: { image, agent_id: agentId, resources: { cpus: 4, memory_mb: 128 } },
    });
    expect(tooBig.status).toBe(409);
    const detail = ((await tooBig.json()) as { detail: string }).detail;
    expect(detail).toContain('1 CPUs');
    expect(detail).toContain('asked for 4 CPUs');
  });

  it('holds the plan’s quota under concurrent requests: a free tenant gets exactly one workspace', async () => {
    const { admin, slug } = await tenantWithAgent('free');
    const tenant = { slug };
    const users = await Promise.all(
      [1, 2, 3, 4].map(() => t.register({ tenantId: admin.tenantId, role: 'member' })),
    );
    const answers = await Promise.all(
      users.map((u) =>
        t.request('/v1/workspaces', {
          token: admin.token,
          tenant: tenant.slug,
          json: { image, user_id: u.userId },
        }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409]);
    const refused = answers.find((a) => a.status === 409);
    expect(((await (refused as Response).json()) as { detail: string }).detail).toContain(
      'the plan allows 1 workspaces',
    );
  });

  it('shows a member only their own workspace; anyone else’s, and another tenant’s, are 404', async () => {
    const { admin, slug } = await tenantWithAgent();
    const ann = await t.user({ tenant: slug, role: 'member' });
    const bob = await t.user({ tenant: slug, role: 'member' });
    const request = (who: { token: string }) =>
      t.request('/v1/workspaces', { token: who.token, tenant: slug, json: { image } });
    const annWs = (await (await request(ann)).json()) as WorkspaceBody;
    const bobWs = (await (await request(bob)).json()) as WorkspaceBody;
    const at = bobWs.position;

    const annList = await t.request('/v1/workspaces', {
      token: ann.token,
      tenant: slug,
      headers: { 'x-min-position': at },
    });
    expect(((await annList.json()) as { items: Array<{ id: string }> }).items.map((w) => w.id)).toEqual([
      annWs.id,
    ]);
    const adminList = await t.request(`/v1/workspaces?user=${bob.userId}`, {
      token: admin.token,
      tenant: slug,
      headers: { 'x-min-position': at },
    });
    expect(((await adminList.json()) as { items: Array<{ id: string }> }).items.map((w) => w.id)).toEqual([
      bobWs.id,
    ]);

    expect((await t.request(`/v1/workspaces/${bobWs.id}`, { token: ann.token, tenant: slug })).status).toBe(
      404,
    );
    expect(
      (await t.request(`/v1/workspaces/${bobWs.id}/stop`, { token: ann.token, tenant: slug, method: 'POST' }))
        .status,
    ).toBe(404);
    expect((await t.request(`/v1/workspaces/${annWs.id}`, { token: ann.token, tenant: slug })).status).toBe(
      200,
    );
    const outsider = await t.user({ role: 'owner' });
    expect(
      (await t.request(`/v1/workspaces/${annWs.id}`, { token: outsider.token, tenant: outsider.tenantSlug }))
        .status,
    ).toBe(404);

    // Not ready yet: stopping is refused by the state machine, not a 500.
    const early = await t.request(`/v1/workspaces/${annWs.id}/stop`, {
      token: ann.token,
      tenant: slug,
      method: 'POST',
    });
    expect(early.status).toBe(409);
    expect(
      (await t.request(`/v1/workspaces/${annWs.id}`, { token: ann.token, tenant: slug, method: 'DELETE' }))
        .status,
    ).toBe(403);
    const deleting = await t.request(`/v1/workspaces/${annWs.id}?delete_data=true`, {
      token: admin.token,
      tenant: slug,
      method: 'DELETE',
    });
    expect(deleting.status).toBe(202);
    expect(((await deleting.json()) as WorkspaceBody).status).toBe('deleting');
  });
});
