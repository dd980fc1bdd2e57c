import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

const lockfile = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'packages', 'fixtures', 'lockfiles', 'lock-v3.json'), 'utf8'),
) as Record<string, unknown>;
/** How long a read waits for the projections here: far past what any read below takes on a loaded machine. */
const READ_WAIT_MS = 20_000;

/**
 * A `GET` of the `Location` a create answered finds the resource with no `X-Min-Position`, even while
 * the projections lag: each create below runs with the projection engine stopped, and the engine
 * resumes only after the `GET` has been sent.
 */
describe('read-your-writes on Location, without the header', () => {
  let t: TestApp;
  let http: Awaited<ReturnType<TestApp['listening']>>;
  let owner: SignedInUser;
  let outsider: SignedInUser;
  let projectId: string;
  let issueId: string;

  const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
    const res = await http.request(path, { token: user.token, tenant: user.tenantSlug, ...init });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as LooseJson };
  };

  /** Creates with the projections stopped, then reads its Location while they are still stopped. */
  const createThenRead = async (path: string, json: unknown, status = 201) => {
    await t.engine.stop();
    let resumed = false;
    try {
      const created = await call(owner, path, { json });
      expect(created.status, JSON.stringify(created.body)).toBe(status);
      const location = created.headers.get('location');
      expect(location).toBeTruthy();
      // The read is in flight before the projections move again (slowed, not stopped for good).
      const read = call(owner, location!);
      await new Promise((r) => setTimeout(r, 150));
      await t.engine.start();
      resumed = true;
      return { created, read: await read, location: location! };
    } finally {
      if (!resumed) await t.engine.start();
    }
  };

  beforeAll(async () => {
    t = await testApp(freshPGlite, { env: { WARDEN_READ_WAIT_MS: String(READ_WAIT_MS) } });
    http = await t.listening();
    owner = await t.user({ role: 'owner' });
    outsider = await t.user({ role: 'owner' });
    const project = await call(owner, '/v1/projects', { json: { key: 'RYW', name: 'Reads' } });
    expect(project.status).toBe(201);
    projectId = project.body.id;
    const issue = await call(owner, `/v1/projects/${projectId}/issues`, {
      json: { title: 'First', type: 'task' },
    });
    expect(issue.status, JSON.stringify(issue.body)).toBe(201);
    issueId = issue.body.id;
  });
  afterAll(async () => {
    await http?.close();
    await t?.dispose();
  });

  it('answers a package request just submitted (a read-model row) with 200, not 404', async () => {
    const { created, read } = await createThenRead('/v1/package-requests', lockfile, 202);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body).toMatchObject({ id: created.body.id, status: 'received' });
  });

  it('answers a comment just added (a read-model row) with 200', async () => {
    const { created, read, location } = await createThenRead(`/v1/issues/${issueId}/comments`, {
      body: 'seen at once',
    });
    expect(location).toMatch(new RegExp(`^/v1/issues/${issueId}/comments/[0-9a-f-]{36}$`));
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body).toMatchObject({ body: 'seen at once', author_id: owner.userId });
    expect(created.status).toBe(201);
  });

  it('answers projects, issues, users, npm tokens and custom domains at their Location', async () => {
    const cases: [string, unknown][] = [
      ['/v1/projects', { key: `P${Date.now().toString(36).toUpperCase().slice(-4)}`, name: 'Another' }],
      [`/v1/projects/${projectId}/issues`, { title: 'Second', type: 'bug' }],
      [
        '/v1/users',
        {
          email: `new-${crypto.randomUUID().slice(0, 8)}@example.com`,
          password: 'a-long-enough-pass-1',
          name: 'New',
        },
      ],
      ['/v1/npm-tokens', { name: 'ci' }],
      [`/v1/tenants/${owner.tenantId}/domains`, { domain: `ryw-${Date.now().toString(36)}.example.com` }],
    ];
    for (const [path, json] of cases) {
      const { created, read } = await createThenRead(path, json);
      expect(read.status, `${path}: ${JSON.stringify(read.body)}`).toBe(200);
      expect(read.body.id ?? read.body.domain).toBe(created.body.id ?? created.body.domain);
    }
  });

  it('says 503 with Retry-After, never 404, when the read model cannot catch up in time', async () => {
    const slow = await testApp(freshPGlite, { env: { WARDEN_READ_WAIT_MS: '200' } });
    try {
      const user = await slow.user({ role: 'owner' });
      const as = { token: user.token, tenant: user.tenantSlug };
      const project = await slow.request('/v1/projects', { ...as, json: { key: 'SLOW', name: 'Slow' } });
      const issue = (await (
        await slow.request(`/v1/projects/${((await project.json()) as LooseJson).id}/issues`, {
          ...as,
          json: { title: 'x', type: 'task' },
        })
      ).json()) as LooseJson;
      await slow.engine.stop();
      const added = await slow.request(`/v1/issues/${issue.id}/comments`, { ...as, json: { body: 'later' } });
      expect(added.status).toBe(201);
      const read = await slow.request(added.headers.get('location')!, as);
      expect(read.status).toBe(503);
      expect(read.headers.get('retry-after')).toBe('1');
      expect(((await read.json()) as LooseJson).type).toContain('read-model-behind');
    } finally {
      await slow.dispose();
    }
  });

  it('keeps another tenant’s resources 404 (no wait, no hint that they exist)', async () => {
    const submitted = await call(owner, '/v1/package-requests', { json: lockfile });
    expect(submitted.status).toBe(202);
    await t.engine.stop();
    try {
      const started = Date.now();
      const foreign = await call(outsider, `/v1/package-requests/${submitted.body.id}`);
      expect(foreign.status).toBe(404);
      // Waiting would take the whole WARDEN_READ_WAIT_MS (the engine is stopped): half of it tells
      // the two apart on a loaded machine.
      expect(Date.now() - started).toBeLessThan(READ_WAIT_MS / 2);
      expect((await call(outsider, `/v1/tenants/${owner.tenantId}/domains/none.example.com`)).status).toBe(
        404,
      );
    } finally {
      await t.engine.start();
    }
  });

  it('hides a comment, npm token and domain from another tenant and a member without tenant:manage', async () => {
    const comment = await call(owner, `/v1/issues/${issueId}/comments`, { json: { body: 'ours' } });
    const token = await call(owner, '/v1/npm-tokens', { json: { name: 'ours' } });
    const name = `ours-${Date.now().toString(36)}.example.com`;
    const domain = await call(owner, `/v1/tenants/${owner.tenantId}/domains`, { json: { domain: name } });
    expect([comment.status, token.status, domain.status]).toEqual([201, 201, 201]);
    expect((await call(outsider, comment.headers.get('location')!)).status).toBe(404);
    expect((await call(outsider, token.headers.get('location')!)).status).toBe(404);
    expect((await call(outsider, `/v1/tenants/${outsider.tenantId}/domains/${name}`)).status).toBe(404);
    const member = await t.user({ tenant: owner.tenantSlug, role: 'member' });
    expect((await call(member, domain.headers.get('location')!)).status).toBe(403);
  });

  it('answers 404 for a comment, npm token or domain that was never created, 400 for a malformed id', async () => {
    expect((await call(owner, `/v1/issues/${issueId}/comments/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await call(owner, `/v1/npm-tokens/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await call(owner, `/v1/tenants/${owner.tenantId}/domains/never.example.com`)).status).toBe(404);
    const bad = await call(owner, `/v1/issues/${issueId}/comments/not-a-uuid`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('commentId');
  });
});
