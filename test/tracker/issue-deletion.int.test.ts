import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

describe('deleting and restoring issues over HTTP', () => {
  let t: TestApp;
  let http: Awaited<ReturnType<TestApp['listening']>>;
  let admin: SignedInUser;
  let lead: SignedInUser;
  let outsider: SignedInUser;
  let seen = '0';

  const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
    const res = await http.request(path, {
      token: user.token,
      tenant: user.tenantSlug,
      headers: { 'x-min-position': seen },
      ...init,
    });
    const position = res.headers.get('x-position');
    if (position && BigInt(position) > BigInt(seen)) seen = position;
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as LooseJson };
  };
  const eventsOf = async (issueId: string) => (await t.store.readStream(`tracker.Issue-${issueId}`)).length;

  beforeAll(async () => {
    t = await testApp(freshPGlite);
    http = await t.listening();
    admin = await t.user({ role: 'admin' });
    lead = await t.user({ tenant: admin.tenantSlug, role: 'member' });
    outsider = await t.user({ role: 'owner' });
    expect((await call(lead, '/v1/projects', { json: { key: 'DEL', name: 'Deletions' } })).status).toBe(201);
  });
  afterAll(async () => {
    await http?.close();
    await t?.dispose();
  });

  it('lets an admin delete an issue: gone from reads and lists, its number kept, restorable', async () => {
    const first = await call(lead, '/v1/projects/DEL/issues', { json: { title: 'Doomed', type: 'task' } });
    expect(first.status).toBe(201);
    expect((await call(admin, '/v1/projects/DEL/issues/1', { method: 'DELETE' })).status).toBe(204);
    expect((await call(lead, `/v1/issues/${first.body.id}`)).status).toBe(404);
    expect((await call(lead, '/v1/issues/DEL-1')).status).toBe(404);
    expect((await call(lead, '/v1/projects/DEL/issues')).body.items).toEqual([]);
    expect((await call(lead, '/v1/issues?q=Doomed')).body.items).toEqual([]);
    // Deleting again changes nothing; editing it is as for a missing issue.
    expect((await call(admin, '/v1/projects/DEL/issues/1', { method: 'DELETE' })).status).toBe(204);
    const edit = await call(lead, '/v1/issues/DEL-1', { method: 'PATCH', json: { title: 'x' } });
    expect(edit.status).toBe(404);
    expect(await eventsOf(first.body.id)).toBe(2);

    const next = await call(lead, '/v1/projects/DEL/issues', { json: { title: 'Next', type: 'task' } });
    expect(next.body).toMatchObject({ number: 2, key: 'DEL-2' });

    const restored = await call(admin, '/v1/projects/DEL/issues/1/restore', { method: 'POST' });
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ key: 'DEL-1', title: 'Doomed' });
    expect((await call(lead, '/v1/issues/DEL-1')).status).toBe(200);
    const keys = (await call(lead, '/v1/projects/DEL/issues?sort=created_at')).body.items.map(
      (i: LooseJson) => i.key,
    );
    expect(keys).toEqual(['DEL-1', 'DEL-2']);

    const audit = await call(admin, '/v1/audit?limit=100');
    const deletion = audit.body.items.find((e: LooseJson) => e.type === 'IssueDeleted');
    expect(deletion).toMatchObject({ actor_id: admin.userId });
  });

  it('refuses a member (even the project lead) with 403 naming the rule, and appends nothing', async () => {
    const issue = await call(lead, '/v1/projects/DEL/issues', { json: { title: 'Kept', type: 'task' } });
    const before = await eventsOf(issue.body.id);
    const refused = await call(lead, `/v1/projects/DEL/issues/${issue.body.number}`, { method: 'DELETE' });
    expect(refused.status).toBe(403);
    expect(refused.body.rule).toBe('issue_delete_admins');
    const restore = await call(lead, `/v1/projects/DEL/issues/${issue.body.number}/restore`, {
      method: 'POST',
    });
    expect(restore.status).toBe(403);
    expect(await eventsOf(issue.body.id)).toBe(before);
  });

  it('answers 404 to another tenant’s admin and for a number never used, 400 naming a bad number', async () => {
    const issue = await call(lead, '/v1/projects/DEL/issues', { json: { title: 'Ours', type: 'task' } });
    const before = await eventsOf(issue.body.id);
    const projectId = (await call(lead, '/v1/projects/DEL')).body.id;
    const foreign = await call(outsider, `/v1/projects/${projectId}/issues/${issue.body.number}`, {
      method: 'DELETE',
    });
    expect(foreign.status).toBe(404);
    expect(await eventsOf(issue.body.id)).toBe(before);
    expect((await call(admin, '/v1/projects/DEL/issues/999', { method: 'DELETE' })).status).toBe(404);
    const bad = await call(admin, '/v1/projects/DEL/issues/abc', { method: 'DELETE' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.errors)).toContain('number');
  });

  it('takes a deleted issue for a missing one as duplicate_of: 409, nothing appended', async () => {
    const original = await call(lead, '/v1/projects/DEL/issues', { json: { title: 'Original' } });
    const copy = await call(lead, '/v1/projects/DEL/issues', { json: { title: 'Copy' } });
    expect(
      (await call(admin, `/v1/projects/DEL/issues/${original.body.number}`, { method: 'DELETE' })).status,
    ).toBe(204);
    const before = await eventsOf(copy.body.id);
    const res = await call(lead, `/v1/issues/${copy.body.id}/transitions`, {
      json: { to: 'resolved', resolution: 'duplicate', duplicate_of: original.body.key },
    });
    expect(res.status).toBe(409);
    expect(res.body.rule).toBe('duplicate_needs_original');
    expect(await eventsOf(copy.body.id)).toBe(before);
  });
});
