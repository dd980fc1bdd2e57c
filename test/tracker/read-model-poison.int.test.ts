import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

/**
 * The tracker's read models (issue list, comments, project list, saved filters) and the audit trail
 * are shared by every tenant: a text PostgreSQL cannot hold (a NUL, an unpaired surrogate) or a due
 * date its `date` lacks (year 0000) used to be stored as an event, and the projection then stopped at
 * it, so one member's request left every tenant's lists behind (503) until an operator stepped in.
 */
for (const kind of databaseKinds) {
  describe(`tracker text and dates a read model cannot hold (${kind.name})`, () => {
    let t: TestApp;
    let member: SignedInUser;
    let other: SignedInUser;
    let issueId: string;
    let commentId: string;

    const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
      const res = await t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
      const text = await res.text();
      return {
        status: res.status,
        position: res.headers.get('x-position'),
        body: (text ? JSON.parse(text) : {}) as LooseJson,
      };
    };
    const failedProjections = async () =>
      (await t.engine.status()).filter((s) => s.state === 'failed').map((s) => s.name);

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      member = await t.user({ role: 'member' });
      other = await t.user({ role: 'member' });
      for (const user of [member, other]) {
        const res = await call(user, '/v1/projects', { json: { key: 'WARD', name: 'Warden' } });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const issue = await call(member, '/v1/projects/WARD/issues', { json: { title: 'fine' } });
      issueId = issue.body.id;
      const comment = await call(member, `/v1/issues/${issueId}/comments`, { json: { body: 'fine' } });
      commentId = comment.body.id;
    });
    afterAll(async () => {
      await t.dispose();
    });

    it('refuses NUL characters, unpaired surrogates and year 0000 with a 400 naming the field', async () => {
      const cases: [string, string, unknown, string][] = [
        ['POST', '/v1/projects', { key: 'NUL', name: 'a\u0000b' }, 'name'],
        ['POST', '/v1/projects', { key: 'SUR', name: 'ok', description: 'x\ud800' }, 'description'],
        ['PATCH', '/v1/projects/WARD', { name: 'x\u0000' }, 'name'],
        ['POST', '/v1/projects/WARD/issues', { title: 'x\u0000y' }, 'title'],
        ['POST', '/v1/projects/WARD/issues', { title: 'x\udfffy' }, 'title'],
        ['POST', '/v1/projects/WARD/issues', { title: 'ok', description: 'a\u0000' }, 'description'],
        ['POST', '/v1/projects/WARD/issues', { title: 'ok', due_date: '0000-01-01' }, 'due_date'],
        ['PATCH', `/v1/issues/${issueId}`, { due_date: '0000-12-31' }, 'due_date'],
        ['PATCH', `/v1/issues/${issueId}`, { title: 'x\u0000' }, 'title'],
        ['POST', `/v1/issues/${issueId}/comments`, { body: 'c\u0000' }, 'body'],
        ['PATCH', `/v1/issues/${issueId}/comments/${commentId}`, { body: 'c\ud800' }, 'body'],
        ['POST', '/v1/saved-filters', { name: 'n\u0000', target: 'issues' }, 'name'],
      ];
      for (const [method, path, json, field] of cases) {
        const res = await call(member, path, { method, json });
        expect(res.status, `${method} ${path} ${JSON.stringify(json)}`).toBe(400);
        expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(field);
      }
      // Another tenant's lists still follow its writes.
      const created = await call(other, '/v1/projects/WARD/issues', { json: { title: 'still listed' } });
      expect(created.status).toBe(201);
      const list = await t.request('/v1/issues?q=listed', {
        token: other.token,
        tenant: other.tenantSlug,
        headers: { 'x-min-position': created.position! },
      });
      expect(list.status).toBe(200);
      expect(((await list.json()) as LooseJson).items.map((i: { id: string }) => i.id)).toEqual([
        created.body.id,
      ]);
      expect(await failedProjections()).toEqual([]);
    });

    it('applies such events stored before they were refused, instead of stopping at them', async () => {
      const tenantId = member.tenantId;
      const projectId = (await call(member, '/v1/projects/WARD')).body.id as string;
      const id = randomUUID();
      const at = new Date().toISOString();
      const meta = { tenantId, actorId: member.userId };
      await t.store.append(`tracker.Issue-${id}`, [
        {
          id: randomUUID(),
          type: 'IssueCreated',
          data: {
            issueId: id,
            projectId,
            tenantId,
            number: 900,
            key: 'WARD-900',
            title: 'old\u0000 title\ud800',
            description: 'old\u0000',
            type: 'task',
            priority: 'medium',
            labels: [],
            dueDate: '0000-01-01',
            assigneeId: null,
            reporterId: member.userId,
            at,
          },
          metadata: meta,
        },
        {
          id: randomUUID(),
          type: 'CommentAdded',
          data: {
            issueId: id,
            projectId,
            tenantId,
            commentId: randomUUID(),
            authorId: member.userId,
            body: 'old\u0000 comment',
            mentions: [],
            at,
          },
          metadata: meta,
        },
      ]);
      const after = await call(other, '/v1/projects/WARD/issues', { json: { title: 'after the old ones' } });
      const list = await t.request('/v1/issues?sort=due_date', {
        token: member.token,
        tenant: member.tenantSlug,
        headers: { 'x-min-position': after.position! },
      });
      expect(list.status).toBe(200);
      const row = ((await list.json()) as LooseJson).items.find((i: { id: string }) => i.id === id);
      expect(row).toMatchObject({ title: 'old title\ufffd', due_date: null });
      expect(await failedProjections()).toEqual([]);
    });
  });
}
