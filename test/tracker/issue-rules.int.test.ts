import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { serviceWorkers, waitUntil } from '../processes/support.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

for (const kind of databaseKinds) {
  describe(`issue rules process manager (${kind.name})`, () => {
    let t: TestApp;
    let worker: Worker;
    beforeAll(async () => {
      t = await testApp(kind.fresh);
      worker = await serviceWorkers(t);
    });
    afterAll(async () => {
      await worker.stop();
      await t.dispose();
    });

    const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
      const res = await t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    };

    it('unassigns a removed user’s open issues, sends work in progress back to open, and says why', async () => {
      const slug = (await t.tenant()).slug;
      const [owner, ann] = await Promise.all([
        t.user({ tenant: slug, role: 'owner' }),
        t.user({ tenant: slug, role: 'member' }),
      ]);
      expect((await call(owner, '/v1/projects', { json: { key: 'PM', name: 'Rules' } })).status).toBe(201);
      expect(
        (
          await call(owner, `/v1/projects/PM/members/${ann.userId}`, {
            method: 'PUT',
            json: { role: 'member' },
          })
        ).status,
      ).toBe(200);
      const create = async (title: string) =>
        (await call(owner, '/v1/projects/PM/issues', { json: { title, assignee_id: ann.userId } })).body
          .id as string;
      const [open, working, done] = [await create('open'), await create('working'), await create('done')];
      expect(
        (await call(ann, `/v1/issues/${working}/transitions`, { json: { to: 'in_progress' } })).status,
      ).toBe(200);
      expect(
        (await call(ann, `/v1/issues/${done}/transitions`, { json: { to: 'resolved', resolution: 'fixed' } }))
          .status,
      ).toBe(200);

      expect((await call(owner, `/v1/users/${ann.userId}`, { method: 'DELETE' })).status).toBe(204);

      const state = (id: string) => call(owner, `/v1/issues/${id}`).then((r) => r.body);
      await waitUntil(
        'open issues unassigned',
        async () => (await state(open)).assignee_id === null && (await state(working)).assignee_id === null,
      );
      expect(await state(working)).toMatchObject({ status: 'open', assignee_id: null });
      expect(await state(done)).toMatchObject({ status: 'resolved', assignee_id: ann.userId });
      const history = (await call(owner, `/v1/issues/${working}/history`)).body.items as {
        type: string;
        actor_id: string;
        data: Record<string, unknown>;
      }[];
      expect(history.slice(-2)).toMatchObject([
        {
          type: 'IssueUnassigned',
          actor_id: 'process:issueRules',
          data: { reason: 'assignee_left_tenant', previous: ann.userId },
        },
        {
          type: 'IssueStatusChanged',
          data: { from: 'in_progress', to: 'open', reason: 'assignee_left_tenant' },
        },
      ]);

      // Reopening the resolved issue makes it open work again: its departed assignee is taken off.
      expect((await call(owner, `/v1/issues/${done}/transitions`, { json: { to: 'open' } })).status).toBe(
        200,
      );
      await waitUntil('reopened issue unassigned', async () => (await state(done)).assignee_id === null);
    });
  });
}
