import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueStreamId } from '../../src/commands/tracker/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

type Json = Record<string, unknown> & { items?: Record<string, unknown>[]; next_cursor?: string | null };

for (const kind of databaseKinds) {
  describe(`tracker over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let slug: string;
    let lead: SignedInUser;
    let ann: SignedInUser;
    let bob: SignedInUser;
    let viv: SignedInUser;
    let admin: SignedInUser;
    let outsider: SignedInUser;
    let projectId: string;

    const call = async (
      user: SignedInUser,
      path: string,
      init: { json?: unknown; method?: string; headers?: Record<string, string> } = {},
    ) => {
      const res = await t.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Json };
    };
    /** Reads wait for the read model to include the caller's last write. */
    let seen = '0';
    const write = async (...args: Parameters<typeof call>) => {
      const res = await call(...args);
      const position = res.headers.get('x-position');
      if (position && BigInt(position) > BigInt(seen)) seen = position;
      return res;
    };
    const read = (user: SignedInUser, path: string) =>
      call(user, path, { headers: { 'x-min-position': seen } });
    const newIssue = async (body: Record<string, unknown>, as = ann) => {
      const res = await write(as, `/v1/projects/${projectId}/issues`, { json: body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body as { id: string; key: string; number: number; revision: number };
    };

    beforeAll(async () => {
      t = await testApp(kind.fresh, { bodyLimit: 1024 * 1024 });
      slug = (await t.tenant()).slug;
      [lead, ann, bob, viv, admin] = await Promise.all([
        t.user({ tenant: slug, role: 'member' }),
        t.user({ tenant: slug, role: 'member' }),
        t.user({ tenant: slug, role: 'member' }),
        t.user({ tenant: slug, role: 'member' }),
        t.user({ tenant: slug, role: 'admin' }),
      ]);
      outsider = await t.user({ role: 'owner' });
      const created = await write(lead, '/v1/projects', {
        json: { key: 'WARD', name: 'Warden', labels: ['api', 'ui'] },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      projectId = created.body.id as string;
      for (const [user, role] of [
        [ann, 'member'],
        [bob, 'member'],
        [viv, 'viewer'],
      ] as const) {
        const res = await write(lead, `/v1/projects/${projectId}/members/${user.userId}`, {
          method: 'PUT',
          json: { role },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
      }
    });
    afterAll(async () => {
      await t.dispose();
    });

    it('creates projects with a unique key per tenant and reads them by id or key', async () => {
      expect((await write(ann, '/v1/projects', { json: { key: 'WARD', name: 'Again' } })).status).toBe(409);
      const other = await write(outsider, '/v1/projects', { json: { key: 'WARD', name: 'Theirs' } });
      expect(other.status).toBe(201);
      const byKey = await read(ann, '/v1/projects/WARD');
      expect(byKey.body).toMatchObject({ id: projectId, key: 'WARD', labels: ['api', 'ui'] });
      expect((byKey.body.members as unknown[]).length).toBe(4);
      const list = await read(ann, '/v1/projects');
      expect(list.body.items?.map((p) => p.key)).toEqual(['WARD']);
      const bad = await write(ann, '/v1/projects', { json: { key: 'w', name: '' } });
      expect(bad.status).toBe(400);
      expect(bad.body.errors).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ path: 'key' }),
          expect.objectContaining({ path: 'name' }),
        ]),
      );
    });

    it('walks an issue through the state machine; refusals are 409/403 naming the rule and append nothing', async () => {
      const issue = await newIssue({ title: 'Login fails', type: 'bug', priority: 'high', labels: ['api'] });
      expect(issue.key).toMatch(/^WARD-\d+$/);
      const move = (user: SignedInUser, body: unknown, headers: Record<string, string> = {}) =>
        write(user, `/v1/issues/${issue.key}/transitions`, { json: body, headers });
      const noAssignee = await move(ann, { to: 'in_progress' });
      expect(noAssignee.status).toBe(409);
      expect(noAssignee.headers.get('content-type')).toContain('application/problem+json');
      expect(noAssignee.body.rule).toBe('in_progress_needs_assignee');
      expect((await move(ann, { to: 'sideways' })).status).toBe(400);
      expect((await move(viv, { to: 'resolved', resolution: 'fixed' })).body.rule).toBe('viewers_read_only');
      const assigned = await write(ann, `/v1/issues/${issue.id}`, {
        method: 'PATCH',
        json: { assignee_id: ann.userId },
      });
      expect(assigned.status, JSON.stringify(assigned.body)).toBe(200);
      expect((await move(ann, { to: 'in_progress' })).status).toBe(200);
      const byBob = await move(bob, { to: 'resolved', resolution: 'fixed' });
      expect([byBob.status, byBob.body.rule]).toEqual([403, 'resolver_role']);
      expect((await move(ann, { to: 'resolved' })).body.rule).toBe('resolution_required');
      expect(
        (await move(ann, { to: 'resolved', resolution: 'duplicate', duplicate_of: 'WARD-999' })).body.rule,
      ).toBe('duplicate_needs_original');
      expect((await move(ann, { to: 'resolved', resolution: 'fixed' })).status).toBe(200);
      expect((await move(ann, { to: 'closed' })).status).toBe(200);
      const frozen = await write(ann, `/v1/issues/${issue.id}`, { method: 'PATCH', json: { title: 'x' } });
      expect([frozen.status, frozen.body.rule]).toEqual([409, 'closed_is_final']);
      const reopened = await move(bob, { to: 'open' });
      expect(reopened.body).toMatchObject({ status: 'open', resolution: null });
      const history = await read(ann, `/v1/issues/${issue.key}/history`);
      expect(history.body.items?.map((e) => e.type)).toEqual([
        'IssueCreated',
        'IssueAssigned',
        'IssueStatusChanged',
        'IssueStatusChanged',
        'IssueStatusChanged',
        'IssueStatusChanged',
      ]);
      expect(history.body.items?.[1]).toMatchObject({
        actor_id: ann.userId,
        data: { assigneeId: ann.userId },
      });
    });

    it('resolves as a duplicate of an issue of the same project only', async () => {
      const original = await newIssue({ title: 'Original' });
      const copy = await newIssue({ title: 'Copy', assignee_id: ann.userId });
      const theirs = await write(outsider, '/v1/projects/WARD/issues', { json: { title: 'Elsewhere' } });
      const foreign = await write(ann, `/v1/issues/${copy.id}/transitions`, {
        json: { to: 'resolved', resolution: 'duplicate', duplicate_of: theirs.body.id },
      });
      expect(foreign.body.rule).toBe('duplicate_needs_original');
      const ok = await write(ann, `/v1/issues/${copy.id}/transitions`, {
        json: { to: 'resolved', resolution: 'duplicate', duplicate_of: original.key },
      });
      expect(ok.body).toMatchObject({
        status: 'resolved',
        resolution: 'duplicate',
        duplicate_of: original.id,
      });
    });

    it('refuses bad input with problem+json naming the field, and appends nothing', async () => {
      const before = await read(ann, `/v1/projects/${projectId}/board`);
      const cases: [Record<string, unknown>, number, string][] = [
        [{ title: '' }, 400, 'title'],
        [{ title: 'x', due_date: '2026-02-30' }, 400, 'due_date'],
        [{ title: 'x', priority: 'urgent' }, 400, 'priority'],
        [{ title: 'x', labels: ['nope'] }, 422, 'labels'],
        [{ title: 'x', assignee_id: viv.userId }, 422, 'assignee_id'],
        [{ title: 'x', assignee_id: outsider.userId }, 422, 'assignee_id'],
        [{ title: 'x', description: 'd'.repeat(70_000) }, 400, 'description'],
      ];
      for (const [body, status, path] of cases) {
        const res = await write(ann, `/v1/projects/${projectId}/issues`, { json: body });
        expect([res.status, JSON.stringify(body).slice(0, 60)]).toEqual([
          status,
          JSON.stringify(body).slice(0, 60),
        ]);
        expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
      }
      const huge = await write(ann, `/v1/projects/${projectId}/issues`, {
        json: { title: 'x', description: 'd'.repeat(1024 * 1024) },
      });
      expect(huge.status).toBe(413);
      expect((await read(ann, `/v1/projects/${projectId}/board`)).body).toEqual(before.body);
    });

    it('hides other tenants’ projects and issues (404) and refuses viewers and non-members (403)', async () => {
      const issue = await newIssue({ title: 'Tenant-private' });
      expect((await call(outsider, `/v1/issues/${issue.id}`)).status).toBe(404);
      expect((await call(outsider, `/v1/projects/${projectId}`)).status).toBe(404);
      expect(
        (await call(outsider, `/v1/issues/${issue.id}/transitions`, { json: { to: 'open' } })).status,
      ).toBe(404);
      expect(
        (await call(outsider, `/v1/projects/${projectId}/issues`, { json: { title: 'x' } })).status,
      ).toBe(404);
      const viewer = await call(viv, `/v1/projects/${projectId}/issues`, { json: { title: 'x' } });
      expect([viewer.status, viewer.body.rule]).toEqual([403, 'viewers_read_only']);
      const stranger = await t.user({ tenant: slug, role: 'member' });
      expect(
        (await call(stranger, `/v1/issues/${issue.id}/comments`, { json: { body: 'hi' } })).body.rule,
      ).toBe('members_only');
      expect(
        (await call(stranger, `/v1/projects/${projectId}`, { method: 'PATCH', json: { name: 'Mine' } })).body
          .rule,
      ).toBe('project_management');
      // A tenant admin needs no project role.
      expect(
        (await write(admin, `/v1/issues/${issue.id}`, { method: 'PATCH', json: { priority: 'low' } })).status,
      ).toBe(200);
      expect((await call(ann, `/v1/issues/${issue.id}`, { headers: {} })).status).toBe(200);
      expect((await t.request(`/v1/issues/${issue.id}`, { tenant: slug })).status).toBe(401);
    });

    it('lists a project’s issues only for its own tenant, whether or not the read model holds the project yet', async () => {
      // Held by the read model (for its tenant): listed for its tenant, 404 for another tenant.
      expect((await read(ann, `/v1/projects/${projectId}/issues`)).status).toBe(200);
      expect((await read(outsider, `/v1/projects/${projectId}/issues`)).status).toBe(404);
      expect((await call(ann, `/v1/projects/${crypto.randomUUID()}/issues`)).status).toBe(404);
      // Not waiting for the projection: a project created a moment ago lists (from its events) at once.
      const fresh = await call(lead, '/v1/projects', {
        json: { key: `NEW${Date.now() % 1000}`, name: 'New' },
      });
      expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);
      const listed = await call(lead, `/v1/projects/${fresh.body.id}/issues`);
      expect([listed.status, listed.body.items]).toEqual([200, []]);
      expect((await call(outsider, `/v1/projects/${fresh.body.id}/issues`)).status).toBe(404);
    });

    it('a stale edit with If-Match is a 412 and loses nothing', async () => {
      const issue = await newIssue({ title: 'Race' });
      const etag = `"${issue.revision}"`;
      const first = await write(ann, `/v1/issues/${issue.id}`, {
        method: 'PATCH',
        json: { title: 'Mine' },
        headers: { 'if-match': etag },
      });
      expect(first.status).toBe(200);
      const second = await write(bob, `/v1/issues/${issue.id}`, {
        method: 'PATCH',
        json: { title: 'Theirs' },
        headers: { 'if-match': etag },
      });
      expect(second.status).toBe(412);
      expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
      expect((await call(ann, `/v1/issues/${issue.id}`)).body.title).toBe('Mine');
    });

    it('an edit that also (un)assigns is one write: a refused assignment refuses the edit too, and appends nothing', async () => {
      const issue = await newIssue({ title: 'Both or neither', assignee_id: ann.userId });
      const moved = await write(ann, `/v1/issues/${issue.id}/transitions`, { json: { to: 'in_progress' } });
      expect(moved.status, JSON.stringify(moved.body)).toBe(200);
      const before = (await t.store.readStream(issueStreamId(issue.id))).length;
      // Work under way needs an assignee: the unassignment is refused, so the new title is not kept.
      const both = await write(ann, `/v1/issues/${issue.id}`, {
        method: 'PATCH',
        json: { title: 'Half done?', assignee_id: null },
      });
      expect(both.status).toBe(409);
      expect(both.body.rule).toBe('in_progress_needs_assignee');
      expect((await t.store.readStream(issueStreamId(issue.id))).length).toBe(before);
      expect((await call(ann, `/v1/issues/${issue.id}`)).body.title).toBe('Both or neither');
      // Both allowed: one write, both recorded at once.
      const ok = await write(ann, `/v1/issues/${issue.id}`, {
        method: 'PATCH',
        json: { title: 'Both', assignee_id: bob.userId },
      });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      const events = (await t.store.readStream(issueStreamId(issue.id))).slice(before);
      expect(events.map((e) => e.type)).toEqual(['IssueEdited', 'IssueAssigned']);
      expect(new Set(events.map((e) => e.position)).size).toBe(2);
      expect(events[0]!.position >> 20n).toBe(events[1]!.position >> 20n);
    });

    it('a stale comment edit or delete with If-Match is a 412 and loses nothing; the text kept is the trimmed one', async () => {
      const issue = await newIssue({ title: 'Comment race' });
      const added = await write(ann, `/v1/issues/${issue.id}/comments`, { json: { body: 'first' } });
      expect(added.status).toBe(201);
      const commentId = added.body.id as string;
      // The issue's entity tag, as every write of it (and a read) answers.
      const etag = (await read(ann, `/v1/issues/${issue.id}`)).headers.get('etag') ?? '';
      expect(etag).toMatch(/^"\d+"$/);
      const edit = (body: string) =>
        write(ann, `/v1/issues/${issue.id}/comments/${commentId}`, {
          method: 'PATCH',
          json: { body },
          headers: { 'if-match': etag },
        });
      const mine = await edit('  second  ');
      expect(mine.status, JSON.stringify(mine.body)).toBe(200);
      const stale = await edit('third');
      expect(stale.status).toBe(412);
      const staleDelete = await write(ann, `/v1/issues/${issue.id}/comments/${commentId}`, {
        method: 'DELETE',
        headers: { 'if-match': etag },
      });
      expect(staleDelete.status).toBe(412);
      const kept = await read(ann, `/v1/issues/${issue.id}/comments/${commentId}`);
      expect(kept.body.body).toBe('second');
    });

    it('comments: mentions of members recorded, edits keep history, deletes are soft and audited; comments are searchable', async () => {
      const issue = await newIssue({ title: 'Comment target' });
      const added = await write(ann, `/v1/issues/${issue.id}/comments`, {
        json: { body: `ping @${bob.email} about zeppelins` },
      });
      expect(added.status, JSON.stringify(added.body)).toBe(201);
      expect(added.body.mentions).toEqual([bob.userId]);
      const commentId = added.body.id as string;
      expect(
        (
          await write(bob, `/v1/issues/${issue.id}/comments/${commentId}`, {
            method: 'PATCH',
            json: { body: 'mine' },
          })
        ).body.rule,
      ).toBe('comment_author_only');
      expect(
        (
          await write(ann, `/v1/issues/${issue.id}/comments/${commentId}`, {
            method: 'PATCH',
            json: { body: 'about zeppelins, edited' },
          })
        ).status,
      ).toBe(200);
      const found = await read(ann, '/v1/issues?q=zeppel');
      expect(found.body.items?.map((i) => i.id)).toContain(issue.id);
      expect(
        (await write(lead, `/v1/issues/${issue.id}/comments/${commentId}`, { method: 'DELETE' })).status,
      ).toBe(200);
      expect((await read(ann, `/v1/issues/${issue.id}/comments`)).body.items).toEqual([]);
      const history = await read(ann, `/v1/issues/${issue.id}/history`);
      const types = history.body.items?.map((e) => [e.type, e.actor_id]);
      expect(types?.slice(-3)).toEqual([
        ['CommentAdded', ann.userId],
        ['CommentEdited', ann.userId],
        ['CommentDeleted', lead.userId],
      ]);
      expect(history.body.items?.at(-2)?.data).toMatchObject({
        previousBody: `ping @${bob.email} about zeppelins`,
      });
      expect((await read(ann, '/v1/issues?q=zeppel')).body.items?.map((i) => i.id)).not.toContain(issue.id);
    });

    it('sorts by the due date an edit sets, and puts an issue whose date an edit clears last', async () => {
      const early = await newIssue({ title: 'Due early', due_date: '2030-02-01' });
      const late = await newIssue({ title: 'Due late', due_date: '2030-03-01' });
      const byDue = async () =>
        (await read(ann, `/v1/projects/${projectId}/issues?sort=due_date&limit=100`)).body
          .items!.map((i) => i.id)
          .filter((id) => id === early.id || id === late.id);
      const edit = async (json: Record<string, unknown>) =>
        (await write(ann, `/v1/issues/${late.id}`, { method: 'PATCH', json })).status;
      expect(await byDue()).toEqual([early.id, late.id]);
      expect(await edit({ due_date: '2030-01-15' })).toBe(200);
      expect(await byDue()).toEqual([late.id, early.id]);
      expect(await edit({ due_date: null })).toBe(200);
      expect(await byDue()).toEqual([early.id, late.id]);
    });

    it('lists with filters and sorts, ranks search results, counts the board, and pages stably while issues are added', async () => {
      const a = await newIssue({
        title: 'Quokka parser crash',
        type: 'bug',
        priority: 'highest',
        labels: ['api'],
        due_date: '2027-01-10',
      });
      const b = await newIssue({
        title: 'Docs',
        description: 'Mentions the quokka parser once',
        type: 'task',
        priority: 'low',
        labels: ['ui'],
      });
      const searched = await read(ann, `/v1/projects/${projectId}/issues?q=quok%20pars`);
      expect(searched.body.items?.map((i) => i.id)).toEqual([a.id, b.id]);
      const bugs = await read(
        ann,
        `/v1/projects/${projectId}/issues?type=bug&priority=highest,high&label=api&sort=-priority`,
      );
      expect(bugs.body.items?.map((i) => i.id)).toContain(a.id);
      expect(
        bugs.body.items?.every((i) => i.type === 'bug' && ['high', 'highest'].includes(i.priority as string)),
      ).toBe(true);
      const due = await read(ann, `/v1/issues?sort=due_date&limit=1`);
      expect(due.body.items?.[0]?.id).toBe(a.id);
      expect(
        (await read(ann, `/v1/issues?assignee=none&reporter=${ann.userId}&created_from=2020-01-01`)).status,
      ).toBe(200);
      expect((await read(ann, '/v1/issues?status=nope')).body.errors).toEqual([
        expect.objectContaining({ path: 'query.status' }),
      ]);
      expect((await read(ann, '/v1/issues?cursor=garbage')).status).toBe(400);

      const board = await read(ann, `/v1/projects/${projectId}/board`);
      const list = await read(ann, `/v1/projects/${projectId}/issues?limit=100`);
      expect(board.body.total).toBe(list.body.items?.length);

      // Page through oldest-first two at a time while new issues arrive: each old issue once, in order.
      const existing = (
        await read(ann, `/v1/projects/${projectId}/issues?sort=created_at&limit=100`)
      ).body.items!.map((i) => i.id);
      const seenIds: unknown[] = [];
      let cursor: string | null | undefined = null;
      do {
        const page = await read(
          ann,
          `/v1/projects/${projectId}/issues?sort=created_at&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seenIds.push(...page.body.items!.map((i) => i.id));
        cursor = page.body.next_cursor;
        if (seenIds.length < 6) await newIssue({ title: `Arrives meanwhile ${seenIds.length}` });
      } while (cursor);
      expect(seenIds.slice(0, existing.length)).toEqual(existing);
      expect(new Set(seenIds).size).toBe(seenIds.length);
    });

    it('describes every tracker route in /openapi.json from the same zod schemas', async () => {
      const res = await t.request('/openapi.json');
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { paths: Record<string, unknown> };
      for (const path of [
        '/v1/projects',
        '/v1/projects/{id}/issues',
        '/v1/projects/{id}/board',
        '/v1/issues/{id}/transitions',
        '/v1/issues/{id}/comments/{commentId}',
        '/v1/issues/{id}/history',
      ]) {
        expect(Object.keys(doc.paths)).toContain(path);
      }
    });

    it('rebuilds the issue read model from the events to the same rows (set-based catch-up equals event by event)', async () => {
      const snapshot = async () =>
        (
          await sql`select id, key, title, status, resolution, assignee_id, labels, comments_text, search::text as search, revision from issue_list order by id`.execute(
            t.database.db,
          )
        ).rows;
      // The rebuild builds the secondary indexes after its bulk load (createIndexes): the swapped-in
      // table must carry the same ones the first start created.
      const indexes = async () =>
        (
          await sql<{
            indexdef: string;
          }>`select regexp_replace(indexdef, ' ON \S+', ' ON') as indexdef from pg_indexes where schemaname = current_schema() and tablename = 'issue_list' order by indexname`.execute(
            t.database.db,
          )
        ).rows.map((r) => r.indexdef);
      await t.engine.waitFor(['issueList'], BigInt(seen), 10_000);
      const before = await snapshot();
      const indexesBefore = await indexes();
      expect(before.length).toBeGreaterThan(10);
      expect(indexesBefore).toHaveLength(14);
      await t.engine.rebuild('issueList');
      expect(await snapshot()).toEqual(before);
      expect(await indexes()).toEqual(indexesBefore);
    });

    it('numbers 50 parallel creations over HTTP without gaps or duplicates', async () => {
      const made = await write(lead, '/v1/projects', { json: { key: 'PAR', name: 'Parallel' } });
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          call(lead, '/v1/projects/PAR/issues', { json: { title: 'parallel' } }),
        ),
      );
      expect(results.every((r) => r.status === 201)).toBe(true);
      expect(results.map((r) => r.body.number as number).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      expect(made.status).toBe(201);
    });
  });
}
