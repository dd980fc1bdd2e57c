import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASED, userStreamId } from '../../src/commands/identity/index.ts';
import { transactionBindingFor } from '../../src/eventstore/postgres/transactional-store.ts';
import { startWorkers, type Worker } from '../../src/processes/runtime/worker.ts';
import { issueRules } from '../../src/processes/tracker/issue-rules.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';

/**
 * Personal-data erasure over HTTP, on the service as `warden serve` assembles it: a user registers
 * and acts, an admin erases them, and then nothing anywhere (raw events, read models, audit, replay,
 * rebuilt projections) holds their email or name, while everyone else's data and the history stay.
 */
for (const kind of databaseKinds) {
  describe(`personal-data erasure over HTTP (${kind.name})`, () => {
    let t: TestApp;
    let slug: string;
    let owner: SignedInUser;
    let root: SignedInUser;
    let bob: SignedInUser;
    const tag = crypto.randomUUID().slice(0, 8);
    const ada = { email: `ada.${tag}@example.com`, name: `Ada Lovelace ${tag}`, password: `pw-${tag}-Xy!7q` };
    let adaId = '';
    let adaToken = '';
    let projectId = '';
    let ownProjectId = '';
    let issueId = '';
    let erasedAt = '';
    let worker: Worker | undefined;
    let setupPosition = '';

    const call = (path: string, as: { token: string }, init: Parameters<TestApp['request']>[1] = {}) =>
      t.request(path, { ...init, token: as.token, tenant: slug });
    const json = async (res: Response, status: number): Promise<LooseJson> => {
      expect(res.status, await res.clone().text()).toBe(status);
      return (await res.json()) as LooseJson;
    };
    /** Every row of every table in the test's schema, as text (read models, audit, keys, events…). */
    const everything = async () => {
      const { rows } = await sql<{ name: string }>`
        select table_name as name from information_schema.tables
        where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(t.database.db);
      const dump: string[] = [];
      for (const { name } of rows) {
        const table = await sql<{ row: string }>`select t::text as row from ${sql.table(name)} t`.execute(
          t.database.db,
        );
        for (const r of table.rows) dump.push(`${name}: ${r.row}`);
      }
      return dump.join('\n');
    };
    const rebuild = async (name: string) => {
      const started = await t.request(`/v1/admin/projections/${name}/rebuild`, {
        method: 'POST',
        token: root.token,
      });
      expect(started.status).toBe(202);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const status = await json(
          await t.request(started.headers.get('location')!, { token: root.token }),
          200,
        );
        if (status.state !== 'running' || Date.now() > deadline) {
          expect(status).toMatchObject({ state: 'succeeded', error: null });
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      // The issue rules run in a worker as in `warden serve`: their handlers load users and projects
      // inside their transactions, through the same personal-data view.
      worker = await startWorkers({
        database: t.database,
        store: t.store,
        storeIn: transactionBindingFor(t.database, t.store),
        processes: [issueRules],
        personalData: t.personalData,
        partitions: 2,
      });
      slug = (await t.tenant()).slug;
      owner = await t.user({ tenant: slug, role: 'owner' });
      bob = await t.user({ tenant: slug, role: 'member', name: `Bob Builder ${tag}` });
      root = await t.superadmin();

      // Ada signs herself up, signs in and acts: a project she leads, an issue, a comment, and she
      // is made a member of the owner's project.
      await json(await t.request('/v1/auth/register', { tenant: slug, json: ada }), 202);
      adaId = (await t.registered(owner.tenantId, ada.email)).id;
      await t.verifyEmail(slug, ada.email);
      adaToken = (await t.login(slug, ada.email, ada.password)).access_token;
      const adaProject = await json(
        await call(
          '/v1/projects',
          { token: adaToken },
          {
            json: {
              key: `A${tag
                .slice(0, 4)
                .toUpperCase()
                .replace(/[^A-Z0-9]/g, 'X')}`,
              name: 'Analytical engine',
            },
          },
        ),
        201,
      );
      projectId = adaProject.id;
      await json(
        await call(
          `/v1/projects/${projectId}/members/${bob.userId}`,
          { token: adaToken },
          {
            method: 'PUT',
            json: { role: 'member' },
          },
        ),
        200,
      );
      const issue = await json(
        await call(
          `/v1/projects/${projectId}/issues`,
          { token: adaToken },
          {
            json: { title: 'Note G', description: 'the first program', assignee_id: adaId },
          },
        ),
        201,
      );
      issueId = issue.id;
      await json(
        await call(
          `/v1/issues/${issueId}/comments`,
          { token: adaToken },
          { json: { body: 'Bernoulli numbers' } },
        ),
        201,
      );
      const ownProject = await json(
        await call('/v1/projects', owner, {
          json: {
            key: `O${tag
              .slice(0, 4)
              .toUpperCase()
              .replace(/[^A-Z0-9]/g, 'X')}`,
            name: 'Owner project',
          },
        }),
        201,
      );
      ownProjectId = ownProject.id;
      const last = await json(
        await call(`/v1/projects/${ownProjectId}/members/${adaId}`, owner, {
          method: 'PUT',
          json: { role: 'member' },
        }),
        200,
      );
      setupPosition = last.position;
    });
    afterAll(async () => {
      await worker?.stop();
      await t?.dispose();
    });

    it('stores personal fields as ciphertext only, from the first event', async () => {
      const { rows } = await sql<{ type: string; data: string }>`
        select type, data::text as data from warden_events order by position`.execute(t.database.db);
      const raw = rows.map((r) => r.data).join('\n');
      for (const secret of [ada.email, ada.name, bob.email, `Bob Builder ${tag}`, '$argon2id$']) {
        expect(raw).not.toContain(secret);
      }
      const registeredRow = rows.find((r) => r.type === 'UserRegistered' && r.data.includes(adaId));
      const data = JSON.parse(registeredRow!.data) as LooseJson;
      expect(data.email.$personal).toMatchObject({
        key: expect.any(String),
        sealed: expect.stringMatching(/^v1\./),
      });
      expect(data).toMatchObject({ userId: adaId, role: 'member', status: 'active' });
      // …while every reader sees clear values.
      const headers = { 'x-min-position': setupPosition };
      const users = await json(await call('/v1/users?limit=100', owner, { headers }), 200);
      expect(users.items.map((u: LooseJson) => u.email)).toEqual(
        expect.arrayContaining([ada.email, bob.email]),
      );
    });

    it('refuses without users:manage (403) and for another tenant’s user (404), erasing nothing', async () => {
      const res = await call(`/v1/users/${adaId}/erase`, bob, { method: 'POST' });
      expect(res.status).toBe(403);
      const stranger = await t.user({ role: 'owner' });
      const other = await t.request(`/v1/users/${adaId}/erase`, {
        method: 'POST',
        token: stranger.token,
        tenant: stranger.tenantSlug,
      });
      expect(other.status).toBe(404);
      expect(other.headers.get('content-type')).toContain('application/problem+json');
      const bad = await call('/v1/users/not-a-uuid/erase', owner, { method: 'POST' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as LooseJson).errors[0].path).toContain('id');
      const users = await json(await call('/v1/users?limit=100', owner), 200);
      expect(users.items.map((u: LooseJson) => u.email)).toContain(ada.email);
    });

    it('erases: removes the live user, records who did it, and is idempotent', async () => {
      const done = await json(await call(`/v1/users/${adaId}/erase`, owner, { method: 'POST' }), 200);
      expect(done).toMatchObject({ id: adaId, erased: true });
      erasedAt = done.position;
      const again = await json(await call(`/v1/users/${adaId}/erase`, owner, { method: 'POST' }), 200);
      expect(again).toMatchObject({ id: adaId, erased: true, position: erasedAt });
      const stream = await t.store.readStream(userStreamId(adaId));
      // She signed herself up in an open tenant: her email was verified first.
      expect(stream.map((e) => e.type)).toEqual([
        'UserRegistered',
        'EmailVerificationRequested',
        'EmailVerified',
        'UserRemoved',
        'PersonalDataErased',
      ]);
      const erased = stream[4]!;
      expect(erased.metadata.actorId).toBe(owner.userId);
      expect(erased.data).toMatchObject({ userId: adaId, by: owner.userId });
      // Her old token's user is gone; she can no longer sign in.
      const login = await t.request('/v1/auth/login', {
        tenant: slug,
        json: { email: ada.email, password: ada.password },
      });
      expect(login.status).toBe(401);
    });

    it('shows her as erased in replays, the users list and the audit; nothing else changed', async () => {
      const headers = { 'x-min-position': erasedAt };
      const replay = await json(
        await call(`/v1/audit/streams/${encodeURIComponent(userStreamId(adaId))}?at=0`, owner, { headers }),
        200,
      );
      expect(replay.state).toMatchObject({ email: ERASED, name: ERASED });
      const project = await json(await call(`/v1/projects/${projectId}`, owner, { headers }), 200);
      const members = Object.fromEntries(project.members.map((m: LooseJson) => [m.user_id, m.email]));
      expect(members).toEqual({ [adaId]: ERASED, [bob.userId]: bob.email });
      const removed = await json(await call('/v1/users?limit=100&status=removed', owner, { headers }), 200);
      const row = removed.items.find((u: LooseJson) => u.id === adaId);
      expect(row).toMatchObject({ email: ERASED, name: ERASED, status: 'removed' });
      const users = await json(await call('/v1/users?limit=100', owner, { headers }), 200);
      expect(users.items.find((u: LooseJson) => u.id === bob.userId)).toMatchObject({
        email: bob.email,
        name: `Bob Builder ${tag}`,
      });
      // Her work stays: the issue and its comment, by her user id.
      const issue = await json(await call(`/v1/issues/${issueId}`, owner, { headers }), 200);
      expect(issue).toMatchObject({ title: 'Note G', reporter_id: adaId });
      // Her removal reached the worker's issue rules, which read her project and user streams
      // inside their transaction: her open issue is unassigned.
      let assignee: unknown = adaId;
      for (let i = 0; i < 600 && assignee !== null; i++) {
        assignee = (await json(await call(`/v1/issues/${issueId}`, owner), 200)).assignee_id;
        if (assignee !== null) await new Promise((r) => setTimeout(r, 50));
      }
      expect(assignee).toBeNull();
      const comments = await json(await call(`/v1/issues/${issueId}/comments`, owner, { headers }), 200);
      expect(comments.items[0]).toMatchObject({ body: 'Bernoulli numbers', author_id: adaId });
      const audit = await call('/v1/audit/export?sort=position', owner, { headers });
      expect(audit.status).toBe(200);
      const lines = (await audit.text()).trim().split('\n');
      const text = lines.join('\n');
      expect(text).not.toContain(ada.email);
      expect(text).not.toContain(ada.name);
      expect(text).toContain(`Personal data of user ${adaId} erased by ${owner.userId}`);
      // The trail is complete and in order: one entry per event of the tenant, positions increasing.
      const positions = lines.map((l) => BigInt((JSON.parse(l) as LooseJson).position));
      expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    });

    it('leaves no email or name of hers anywhere, before and after rebuilding the projections', async () => {
      const check = async () => {
        const dump = await everything();
        expect(dump).not.toContain(ada.email);
        expect(dump).not.toContain(ada.name);
        expect(dump).toContain(bob.email);
      };
      await check();
      await rebuild('userList');
      await rebuild('auditEntries');
      await check();
      const users = await json(await call('/v1/users?limit=100&status=removed', owner), 200);
      expect(users.items.find((u: LooseJson) => u.id === adaId)).toMatchObject({
        email: ERASED,
        name: ERASED,
      });
      const audit = await json(
        await call(`/v1/audit?stream=${encodeURIComponent(userStreamId(adaId))}`, owner),
        200,
      );
      expect(audit.items.map((e: LooseJson) => e.type)).toEqual([
        'PersonalDataErased',
        'UserRemoved',
        'EmailVerified',
        'EmailVerificationRequested',
        'UserRegistered',
      ]);
    });

    it('lets the same email register again: a new person (a new id, a fresh key), her old history stays erased', async () => {
      const answer = await t.request('/v1/auth/register', { tenant: slug, json: ada });
      expect(answer.status).toBe(202);
      const again = await t.registered(owner.tenantId, ada.email);
      // User ids are random: the email's claim was released with her, and passes to a new id.
      expect(again.id).not.toBe(adaId);
      await t.verifyEmail(slug, ada.email);
      await t.login(slug, ada.email, ada.password);
      const old = await t.store.readStream(userStreamId(adaId));
      expect(old.map((e) => e.data as LooseJson).map((d) => d.email ?? null)).toEqual([
        ERASED,
        null,
        null,
        ERASED,
        null,
      ]);
      const fresh = await t.store.readStream(userStreamId(again.id));
      expect(fresh.map((e) => (e.data as LooseJson).email)).toEqual([ada.email, undefined, undefined]);
      // Her old project role does not pass to the new account.
      const project = await json(await call(`/v1/projects/${ownProjectId}`, owner), 200);
      expect(project.members.find((m: LooseJson) => m.user_id === adaId)?.email ?? ERASED).toBe(ERASED);
      expect(project.members.map((m: LooseJson) => m.user_id)).not.toContain(again.id);
    });

    it('forgets stored idempotent answers that held the person (an admin’s “add user”)', async () => {
      const eve = { email: `eve.${tag}@example.com`, name: `Eve Erased ${tag}`, password: `pw-${tag}-Qz!9w` };
      const key = `add-eve-${tag}`;
      const added = await json(
        await call('/v1/users', owner, { json: eve, headers: { 'idempotency-key': key } }),
        201,
      );
      expect(await everything()).toContain(eve.email);
      const erased = await json(await call(`/v1/users/${added.id}/erase`, owner, { method: 'POST' }), 200);
      // Once the users list has caught up with the erasure:
      const headers = { 'x-min-position': erased.position };
      await json(await call('/v1/users?status=removed', owner, { headers }), 200);
      const dump = await everything();
      expect(dump).not.toContain(eve.email);
      expect(dump).not.toContain(eve.name);
    });
  });
}
