import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerUser } from '../../src/commands/identity/index.ts';
import {
  findWorkspace,
  registerAgent,
  requestWorkspace,
  workspaceStreamId,
} from '../../src/commands/workspaces/index.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { createLogger } from '../../src/logger.ts';
import { processContext } from '../../src/processes/runtime/index.ts';
import { workspaceProvisioning } from '../../src/processes/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

const silent = createLogger('silent');

/*
 * The provisioning saga's handlers driven one event at a time, in the order a worker could meet them:
 * its partitions (by stream) run apart, the read models it reads lag behind the log, and an HTTP
 * request checks its user before it appends. No agent is called: the saga is stopped at placement.
 */
describe('a workspace asked for around its user’s removal does not outlive the user', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  /** A tenant with an admin and an agent in the agents read model (placement reads it). */
  const tenantWithAgent = async () => {
    const tenant = await t.tenant();
    const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    const registered = await registerAgent(
      t.store,
      {
        agentId: crypto.randomUUID(),
        tenantId: tenant.id,
        name: 'host-a',
        url: 'http://agent.example.com:7000/',
        labels: [],
        capacity: { cpus: 4, memoryMb: 4096, workspaces: 10 },
        at: new Date().toISOString(),
        by: admin.userId,
      },
      { metadata: { tenantId: tenant.id, actorId: admin.userId } },
    );
    await t.engine.waitFor(['workspaceAgentList'], registered.position, 5_000);
    return { tenant, admin };
  };

  /** What the HTTP request appends once its user check has passed: the slot claim, then the request. */
  const request = async (tenantId: string, userId: string, by: string) => {
    const result = await requestWorkspace(
      t.store,
      {
        workspaceId: crypto.randomUUID(),
        tenantId,
        userId,
        image: 'example/editor:1',
        resources: { cpus: 0.5, memoryMb: 64 },
        agentId: null,
        ports: [8080],
        at: new Date().toISOString(),
        by,
        limit: null,
      },
      { metadata: { tenantId, actorId: by } },
    );
    return result.state.workspaceId;
  };

  /** The latest event of `type` about `id` (a user, a tenant or a workspace), waiting for the store to show it. */
  const eventOf = async (type: string, id: string): Promise<RecordedEvent> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const found = (await t.store.readAll({ types: [type] }))
        .filter((e) => {
          const data = e.data as { userId?: string; workspaceId?: string; tenantId?: string };
          if (data.workspaceId !== undefined) return data.workspaceId === id;
          return data.userId === id || (data.userId === undefined && data.tenantId === id);
        })
        .at(-1);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${type} of ${id}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /** Hands one event to the provisioning saga, as its worker would. */
  const provision = async (type: string, id: string) => {
    const event = await eventOf(type, id);
    await workspaceProvisioning.handle(
      event,
      processContext(workspaceProvisioning.name, event, {
        store: t.store,
        db: t.database.db as never,
        logger: silent,
        sealer: t.identity.sealer,
      }),
    );
  };

  const remove = async (admin: SignedInUser, userId: string) => {
    const removed = await t.request(`/v1/users/${userId}`, {
      token: admin.token,
      tenant: admin.tenantSlug,
      method: 'DELETE',
    });
    expect(removed.status).toBe(204);
  };

  const typesOf = async (workspaceId: string) =>
    (await t.store.readStream(workspaceStreamId(workspaceId))).map((e) => e.type);

  it('deletes, never places, a workspace whose request is appended after the removal was handled', async () => {
    const { tenant, admin } = await tenantWithAgent();
    const member = await t.register({ tenantId: tenant.id });
    // The request checked the user (active) and then waited on the agents; meanwhile the user was
    // removed and the removal handled, with no workspace of theirs to be seen yet.
    await remove(admin, member.userId);
    await provision('UserRemoved', member.userId);
    const workspaceId = await request(tenant.id, member.userId, admin.userId);
    await provision('WorkspaceRequested', workspaceId);

    const found = await findWorkspace(t.store, tenant.id, workspaceId);
    expect(found?.state.status).toBe('deleting');
    expect(await typesOf(workspaceId)).not.toContain('WorkspacePlaced');
    const deletion = await eventOf('WorkspaceDeletionRequested', workspaceId);
    expect(deletion.data).toMatchObject({ reason: 'user_removed', deleteData: true });
  });

  it('deletes a workspace the read model has not seen yet when the removal is handled', async () => {
    const { tenant, admin } = await tenantWithAgent();
    const member = await t.register({ tenantId: tenant.id });
    // The workspace list lags behind the log: here it stays behind for the whole interleaving.
    await t.engine.stop();
    try {
      const workspaceId = await request(tenant.id, member.userId, admin.userId);
      await provision('WorkspaceRequested', workspaceId);
      expect((await findWorkspace(t.store, tenant.id, workspaceId))?.state.status).toBe('placed');
      await remove(admin, member.userId);
      await provision('UserRemoved', member.userId);

      expect((await findWorkspace(t.store, tenant.id, workspaceId))?.state.status).toBe('deleting');
      const deletion = await eventOf('WorkspaceDeletionRequested', workspaceId);
      expect(deletion.data).toMatchObject({ reason: 'user_removed' });
    } finally {
      await t.engine.start();
    }
  });

  it('deletes the workspace of a pending user who is then rejected', async () => {
    const { tenant, admin } = await tenantWithAgent();
    const pending = await registerUser(
      t.store,
      t.identity.hasher,
      {
        tenantId: tenant.id,
        email: `pending-${crypto.randomUUID().slice(0, 8)}@example.com`,
        name: 'Pending',
        password: `pw-${crypto.randomUUID()}`,
        role: 'member',
        via: 'signup',
        maxUsers: null,
        defaultPolicy: 'approval',
        at: new Date().toISOString(),
      },
      { metadata: { tenantId: tenant.id, actorId: 'test' } },
      t.identity.userIds,
    );
    expect(pending.state.status).toBe('pending_approval');
    const userId = pending.state.userId;
    // A manager may ask for a workspace for a user still waiting for approval.
    const workspaceId = await request(tenant.id, userId, admin.userId);
    await provision('WorkspaceRequested', workspaceId);
    expect((await findWorkspace(t.store, tenant.id, workspaceId))?.state.status).toBe('placed');
    const rejected = await t.request(`/v1/users/${userId}/reject`, {
      token: admin.token,
      tenant: admin.tenantSlug,
      method: 'POST',
    });
    expect(rejected.status).toBe(200);
    await provision('UserRejected', userId);

    expect((await findWorkspace(t.store, tenant.id, workspaceId))?.state.status).toBe('deleting');
    const deletion = await eventOf('WorkspaceDeletionRequested', workspaceId);
    expect(deletion.data).toMatchObject({ reason: 'user_rejected' });
  });

  it('deletes, never places, a workspace whose request is appended after its tenant’s deletion was handled', async () => {
    const { tenant, admin } = await tenantWithAgent();
    const member = await t.register({ tenantId: tenant.id });
    const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
    const deleted = await t.request(`/v1/tenants/${tenant.id}`, {
      token: owner.token,
      tenant: tenant.slug,
      method: 'DELETE',
    });
    expect(deleted.status).toBe(204);
    await provision('TenantDeleted', tenant.id);
    const workspaceId = await request(tenant.id, member.userId, admin.userId);
    await provision('WorkspaceRequested', workspaceId);

    expect(await typesOf(workspaceId)).not.toContain('WorkspacePlaced');
    const deletion = await eventOf('WorkspaceDeletionRequested', workspaceId);
    expect(deletion.data).toMatchObject({ reason: 'tenant_deleted', deleteData: true });
  });
});
