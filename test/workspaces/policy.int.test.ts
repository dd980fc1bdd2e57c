import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser } from '../../src/commands/identity/index.ts';
import { transactionBindingFor } from '../../src/eventstore/postgres/transactional-store.ts';
import { startWorkers, type Worker } from '../../src/processes/runtime/index.ts';
import { workspaceOnApproval, workspaceProvisioning } from '../../src/processes/workspaces/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import {
  expectForeignIdsNotFound,
  expectMatrix,
  type ProtectedRoute,
  type Send,
  sender,
} from '../tenancy/authorization.ts';
import { type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

interface WorkspaceBody {
  id: string;
  user_id: string;
  status: string;
  failure: { step: string; reason: string } | null;
}

describe('workspace policy: roles from the seed, bad input, capacity under concurrency, workspace on approval', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let image: string;
  let worker: Worker;
  let send: Send;
  const agents: RunningAgent[] = [];

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, image] = await Promise.all([testApp(freshPGlite), importBaseImage(daemon)]);
    send = sender(t);
    worker = await startWorkers({
      database: t.database,
      store: t.store,
      storeIn: transactionBindingFor(t.database, t.store),
      processes: [workspaceProvisioning, workspaceOnApproval],
      personalData: t.personalData,
      sealer: t.identity.sealer,
      partitions: 2,
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await Promise.all(agents.map((a) => a.dispose()));
    await daemon?.stop();
    await t?.dispose();
  });

  /** A tenant with an admin and an agent of its own (an agent enrols once), visible to reads. */
  const tenantWithAgent = async (
    plan: 'free' | 'enterprise',
    capacity = { cpus: 8, memory_mb: 8192, workspaces: 20 },
  ) => {
    const agent = await startAgent(daemon);
    agents.push(agent);
    const tenant = await t.tenant(undefined, plan);
    const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    const { id: agentId } = await registerAgentViaApi(t, admin, agent, { name: 'host-a', capacity });
    return { tenant, admin, agentId };
  };

  it('lets admins manage agents, settings and anyone’s workspace; operators only view; members neither', async () => {
    const { tenant, admin, agentId } = await tenantWithAgent('enterprise');
    const member = () => t.register({ tenantId: tenant.id, role: 'member' });
    const routes: ProtectedRoute[] = [
      {
        name: 'GET /v1/agents',
        permission: ['workspaces:view', 'workspaces:manage'],
        prepare: () => ({ method: 'GET', path: '/v1/agents' }),
      },
      {
        name: 'GET /v1/agents/{id}',
        permission: ['workspaces:view', 'workspaces:manage'],
        prepare: () => ({ method: 'GET', path: `/v1/agents/${agentId}` }),
      },
      {
        name: 'POST /v1/agents',
        permission: 'workspaces:manage',
        // Let through, the enrolment is tried (and refused: no agent listens there).
        ok: [422],
        prepare: () => ({
          method: 'POST',
          path: '/v1/agents',
          body: {
            name: 'ghost',
            url: 'http://127.0.0.1:9/',
            enrolment_token: 'enrol-0123456789abcdef',
            capacity: { cpus: 1, memory_mb: 256, workspaces: 1 },
          },
        }),
      },
      {
        name: 'DELETE /v1/agents/{id}',
        permission: 'workspaces:manage',
        ok: [404],
        prepare: () => ({ method: 'DELETE', path: `/v1/agents/${crypto.randomUUID()}` }),
      },
      {
        name: 'GET /v1/workspace-settings',
        permission: ['workspaces:view', 'workspaces:manage'],
        prepare: () => ({ method: 'GET', path: '/v1/workspace-settings' }),
      },
      {
        name: 'PUT /v1/workspace-settings',
        permission: 'workspaces:manage',
        prepare: () => ({
          method: 'PUT',
          path: '/v1/workspace-settings',
          body: { workspace_on_approval: { enabled: false } },
        }),
      },
      {
        name: 'POST /v1/workspaces for another user',
        permission: 'workspaces:manage',
        ok: [202],
        prepare: async () => ({
          method: 'POST',
          path: '/v1/workspaces',
          body: { image, user_id: (await member()).userId, resources: { cpus: 0.1, memory_mb: 16 } },
        }),
      },
    ];
    const table = await expectMatrix(send, tenant, routes);
    expect(table['GET /v1/agents']).toMatchObject({ operator: 200, member: 403, approver: 403 });

    // Somebody's workspace: the operator sees it (list and read) but may not stop, start or delete it.
    const ann = await member();
    const requested = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: tenant.slug,
      json: { image, user_id: ann.userId, resources: { cpus: 0.1, memory_mb: 16 } },
    });
    expect(requested.status).toBe(202);
    const annWs = (await requested.json()) as WorkspaceBody & { position: string };
    const as = (caller: 'operator' | 'member', method: string, path: string) =>
      send({ method, path, as: caller, tenant, headers: { 'x-min-position': annWs.position } });
    const listed = (await (await as('operator', 'GET', '/v1/workspaces?limit=200')).json()) as {
      items: WorkspaceBody[];
    };
    expect(listed.items.map((w) => w.id)).toContain(annWs.id);
    expect((await as('operator', 'GET', `/v1/workspaces/${annWs.id}`)).status).toBe(200);
    for (const [method, path] of [
      ['POST', `/v1/workspaces/${annWs.id}/stop`],
      ['POST', `/v1/workspaces/${annWs.id}/start`],
      ['DELETE', `/v1/workspaces/${annWs.id}`],
    ] as const) {
      const refused = await as('operator', method, path);
      expect(refused.status, `${method} ${path} as operator`).toBe(403);
      // A member does not even see it.
      expect((await as('member', method, path)).status, `${method} ${path} as member`).toBe(404);
    }
    const memberList = (await (await as('member', 'GET', '/v1/workspaces?limit=200')).json()) as {
      items: WorkspaceBody[];
    };
    expect(memberList.items.map((w) => w.id)).not.toContain(annWs.id);

    // Another tenant's owner finds none of it.
    const intruder = await t.tenant(undefined, 'enterprise');
    await expectForeignIdsNotFound(send, tenant, intruder, [
      {
        name: 'GET agent',
        permission: 'workspaces:view',
        prepare: () => ({ method: 'GET', path: `/v1/agents/${agentId}` }),
      },
      {
        name: 'DELETE agent',
        permission: 'workspaces:manage',
        prepare: () => ({ method: 'DELETE', path: `/v1/agents/${agentId}` }),
      },
      {
        name: 'GET workspace',
        permission: 'workspaces:view',
        prepare: () => ({ method: 'GET', path: `/v1/workspaces/${annWs.id}` }),
      },
      {
        name: 'stop workspace',
        permission: 'workspaces:manage',
        prepare: () => ({ method: 'POST', path: `/v1/workspaces/${annWs.id}/stop` }),
      },
      {
        name: 'DELETE workspace',
        permission: 'workspaces:manage',
        prepare: () => ({ method: 'DELETE', path: `/v1/workspaces/${annWs.id}` }),
      },
    ]);
  });

  it('accepts only what fits on an agent under parallel requests: the rest are 409 with the numbers, nothing extra appended', async () => {
    const { tenant, admin, agentId } = await tenantWithAgent('enterprise', {
      cpus: 1,
      memory_mb: 1024,
      workspaces: 10,
    });
    const users = await Promise.all([1, 2, 3, 4, 5].map(() => t.register({ tenantId: tenant.id })));
    const answers = await Promise.all(
      users.map((u) =>
        t.request('/v1/workspaces', {
          token: admin.token,
          tenant: tenant.slug,
          json: { image, user_id: u.userId, agent_id: agentId, resources: { cpus: 0.5, memory_mb: 64 } },
        }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, 202, 409, 409, 409]);
    for (const refused of answers.filter((a) => a.status === 409)) {
      expect(((await refused.json()) as { detail: string }).detail).toBe(
        'the agent host-a has 0 CPUs, 896 MB and 8 workspaces free; asked for 0.5 CPUs and 64 MB',
      );
    }
    const events = (await t.store.readAll()).filter(
      (e) => (e.data as { tenantId?: string }).tenantId === tenant.id,
    );
    const count = (type: string) => events.filter((e) => e.type === type).length;
    expect(count('WorkspaceSlotClaimed')).toBe(2);
    expect(count('WorkspaceSlotPlaced')).toBe(2);
    expect(count('WorkspaceRequested')).toBe(2);
  });

  it('refuses bad settings naming the field, and with the setting on, approving a user provisions their workspace once; a full quota is recorded, not silent', async () => {
    const { tenant, admin } = await tenantWithAgent('free');
    const put = (body: unknown) =>
      t.request('/v1/workspace-settings', {
        token: admin.token,
        tenant: tenant.slug,
        method: 'PUT',
        json: body,
      });

    const initial = await t.request('/v1/workspace-settings', { token: admin.token, tenant: tenant.slug });
    expect(
      ((await initial.json()) as { workspace_on_approval: { enabled: boolean } }).workspace_on_approval
        .enabled,
    ).toBe(false);
    const before = (await t.store.readAll()).length;
    const noImage = await put({ workspace_on_approval: { enabled: true } });
    expect(noImage.status).toBe(422);
    expect(JSON.stringify(await noImage.json())).toContain('workspace_on_approval.image');
    const unknown = await put({ workspace_on_approval: { enabled: true, image: 'example/absent:1' } });
    expect(unknown.status).toBe(422);
    expect(JSON.stringify(await unknown.json())).toContain('unknown image example/absent:1');
    const badCpus = await put({ workspace_on_approval: { enabled: true, image, resources: { cpus: -1 } } });
    expect(badCpus.status).toBe(400);
    expect(JSON.stringify(await badCpus.json())).toContain('workspace_on_approval.resources.cpus');
    expect((await t.store.readAll()).length).toBe(before);

    const on = await put({
      workspace_on_approval: { enabled: true, image, resources: { cpus: 0.25, memory_mb: 64 } },
    });
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({
      workspace_on_approval: {
        enabled: true,
        image,
        resources: { cpus: 0.25, memory_mb: 64 },
        ports: [8080],
      },
    });

    const pending = async () =>
      (
        await registerUser(
          t.store,
          t.identity.hasher,
          {
            tenantId: tenant.id,
            email: `pending-${crypto.randomUUID().slice(0, 8)}@example.com`,
            name: 'Pending',
            password: 'plum-orbit-kettle-47',
            role: 'member',
            via: 'signup',
            maxUsers: null,
            defaultPolicy: 'approval',
            at: new Date().toISOString(),
          },
          { metadata: { tenantId: tenant.id } },
        )
      ).state.userId;
    const approve = async (userId: string) => {
      const answer = await t.request(`/v1/users/${userId}/approve`, {
        token: admin.token,
        tenant: tenant.slug,
        method: 'POST',
      });
      expect(answer.status).toBe(200);
    };

    const ann = await pending();
    await approve(ann);
    const deadline = Date.now() + 150_000;
    let workspace: WorkspaceBody | undefined;
    while (Date.now() < deadline) {
      // Once a second: the free plan's API budget (120 a minute per caller) must outlast a slow machine.
      const answer = await t.request(`/v1/workspaces?user=${ann}`, {
        token: admin.token,
        tenant: tenant.slug,
      });
      expect(answer.status, await answer.clone().text()).toBe(200);
      workspace = ((await answer.json()) as { items: WorkspaceBody[] }).items[0];
      if (workspace && ['ready', 'failed'].includes(workspace.status)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(workspace).toMatchObject({ user_id: ann, status: 'ready', failure: null });
    const requested = (await t.store.readAll()).filter(
      (e) => e.type === 'WorkspaceRequested' && (e.data as { userId: string }).userId === ann,
    );
    expect(requested).toHaveLength(1);
    expect(requested[0]?.data).toMatchObject({ by: 'process:workspaceOnApproval', image });

    // The free plan holds one workspace: the next approval gets none, and the trail says why.
    const bob = await pending();
    await approve(bob);
    const refusalDeadline = Date.now() + 20_000;
    let refusal: { reason: string } | undefined;
    while (!refusal && Date.now() < refusalDeadline) {
      refusal = (await t.store.readAll())
        .filter(
          (e) => e.type === 'WorkspaceOnApprovalRefused' && (e.data as { userId: string }).userId === bob,
        )
        .map((e) => e.data as { reason: string })[0];
      if (!refusal) await new Promise((r) => setTimeout(r, 200));
    }
    expect(refusal?.reason).toBe('the plan allows 1 workspaces and 1 are in use');
    const line = `No workspace on approval for user ${bob}: the plan allows 1 workspaces and 1 are in use`;
    let trail = '';
    const auditDeadline = Date.now() + 10_000;
    while (!trail.includes(line) && Date.now() < auditDeadline) {
      const audit = await t.request('/v1/audit?type=WorkspaceOnApprovalRefused', {
        token: admin.token,
        tenant: tenant.slug,
      });
      trail = await audit.text();
      if (!trail.includes(line)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(trail).toContain(line);
  }, 240_000);
});
