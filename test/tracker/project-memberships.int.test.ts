import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeUser } from '../../src/commands/identity/index.ts';
import { changeProject, createProject, projectStreamId } from '../../src/commands/tracker/index.ts';
import { createLogger } from '../../src/logger.ts';
import { processContext } from '../../src/processes/runtime/index.ts';
import { projectMemberships } from '../../src/processes/tracker/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

const silent = createLogger('silent');

describe('project memberships process manager', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t.dispose();
  });

  /** Hands every event of its types to the process manager, in order, as a worker would. */
  const runOverHistory = async () => {
    for (const event of await t.store.readAll({ types: projectMemberships.types })) {
      await projectMemberships.handle(
        event,
        processContext(projectMemberships.name, event, {
          store: t.store,
          db: t.database.db as never,
          logger: silent,
        }),
      );
    }
  };

  it('takes a removed user off every project of the tenant, once each, even when it runs twice', async () => {
    const { id: tenantId } = await t.tenant();
    const lead = await t.register({ tenantId, role: 'owner' });
    const ann = await t.register({ tenantId, role: 'member' });
    const other = await t.register({ tenantId, role: 'member' });
    const context = { metadata: { tenantId, actorId: lead.userId } };
    const at = new Date().toISOString();
    const projectIds: string[] = [];
    for (const key of ['PA', 'PB', 'PC']) {
      const created = await createProject(
        t.store,
        {
          tenantId,
          key,
          name: key,
          description: '',
          labels: [],
          leadId: lead.userId,
          leadEmail: lead.email,
          at,
        },
        context,
      );
      projectIds.push(created.state.projectId);
    }
    const actor = { userId: lead.userId, tenantAdmin: true };
    // Ann is in PA (member) and PB (lead, with the owner); PC has someone else.
    await changeProject(
      t.store,
      tenantId,
      projectIds[0]!,
      { type: 'SetMember', userId: ann.userId, email: ann.email, role: 'member', actor, at },
      context,
    );
    await changeProject(
      t.store,
      tenantId,
      projectIds[1]!,
      { type: 'SetMember', userId: ann.userId, email: ann.email, role: 'lead', actor, at },
      context,
    );
    await changeProject(
      t.store,
      tenantId,
      projectIds[2]!,
      { type: 'SetMember', userId: other.userId, email: other.email, role: 'viewer', actor, at },
      context,
    );

    await runOverHistory();
    await changeUser(t.store, tenantId, ann.userId, { type: 'RemoveUser', actorIsOwner: true, at }, context);
    await runOverHistory();
    await runOverHistory();

    const removals = async (projectId: string) =>
      (await t.store.readStream(projectStreamId(projectId))).filter((e) => e.type === 'ProjectMemberRemoved');
    for (const projectId of projectIds.slice(0, 2)) {
      const removed = await removals(projectId);
      expect(removed).toHaveLength(1);
      expect(removed[0]!.data).toMatchObject({ userId: ann.userId, reason: 'member_left_tenant' });
      expect(removed[0]!.metadata).toMatchObject({ actorId: 'process:projectMemberships', tenantId });
    }
    expect(await removals(projectIds[2]!)).toHaveLength(0);
  });

  it('undoes an addition of someone already removed (the removal was handled first)', async () => {
    const { id: tenantId } = await t.tenant();
    const lead = await t.register({ tenantId, role: 'owner' });
    const bob = await t.register({ tenantId, role: 'member' });
    const context = { metadata: { tenantId, actorId: lead.userId } };
    const at = new Date().toISOString();
    const { state } = await createProject(
      t.store,
      {
        tenantId,
        key: 'LATE',
        name: 'Late',
        description: '',
        labels: [],
        leadId: lead.userId,
        leadEmail: lead.email,
        at,
      },
      context,
    );
    const actor = { userId: lead.userId, tenantAdmin: true };
    await changeProject(
      t.store,
      tenantId,
      state.projectId,
      { type: 'SetMember', userId: bob.userId, email: bob.email, role: 'member', actor, at },
      context,
    );
    await changeUser(t.store, tenantId, bob.userId, { type: 'RemoveUser', actorIsOwner: true, at }, context);
    // The process sees the addition only now (it ran on nothing before): the removal found no index row.
    await runOverHistory();
    await runOverHistory();
    const removed = (await t.store.readStream(projectStreamId(state.projectId))).filter(
      (e) => e.type === 'ProjectMemberRemoved',
    );
    expect(removed).toHaveLength(1);
    expect(removed[0]!.data).toMatchObject({ userId: bob.userId, reason: 'member_left_tenant' });
  });
});
