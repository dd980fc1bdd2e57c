import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { readyWorkspace } from './nginx-session.ts';

interface ListedSession {
  id: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  user_agent: string | null;
  client_address: string | null;
}
interface SessionPage {
  items: ListedSession[];
  next_cursor: string | null;
}

const SESSION_TTL_SECONDS = 3600;
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const CURL = 'curl/8.5.0';

/*
 * A workspace's browser sessions as its user sees them (GET) and ends one (DELETE), over real HTTP
 * to a listening app. The workspace is made ready through its own commands (no agent or nginx: the
 * sessions are Warden's alone), and the browser's two calls to Warden are the ones nginx forwards:
 * `/workspace-access/enter` with the ticket, `/workspace-access/check/{id}` with the cookie. The
 * clock is the app's own, moved forward to pass a minute or the sessions' lifetime.
 */
for (const kind of databaseKinds) {
  describe(`a workspace’s browser sessions: listed, and ended one at a time (${kind.name})`, () => {
    let t: TestApp;
    let http: Awaited<ReturnType<TestApp['listening']>>;
    let ahead = 0;
    const clock = () => new Date(Date.now() + ahead);

    beforeAll(async () => {
      t = await testApp(kind.fresh, {
        clock,
        env: {
          WARDEN_WORKSPACE_SESSION_TTL_SECONDS: String(SESSION_TTL_SECONDS),
          // The clock passes a session's lifetime below: the access tokens outlive it.
          WARDEN_ACCESS_TOKEN_TTL_SECONDS: '86400',
        },
      });
      http = await t.listening();
    });
    afterAll(async () => {
      await http?.close();
      await t?.dispose();
    });

    const api = (user: SignedInUser, path: string, method = 'GET') =>
      http.request(path, { token: user.token, tenant: user.tenantSlug, method });
    const list = async (user: SignedInUser, workspaceId: string) => {
      const res = await api(user, `/v1/workspaces/${workspaceId}/sessions`);
      const text = await res.text();
      expect(res.status, text).toBe(200);
      return { page: JSON.parse(text) as SessionPage, text };
    };
    /** A one-time ticket from the API. */
    const ticketFor = async (user: SignedInUser, workspaceId: string) => {
      const link = await api(user, `/v1/workspaces/${workspaceId}/sessions`, 'POST');
      expect(link.status).toBe(201);
      return ((await link.json()) as { ticket: string }).ticket;
    };
    /** The browser's entry with a ticket, as nginx forwards it. */
    const present = (ticket: string, userAgent: string) =>
      http.request(`/workspace-access/enter?ticket=${ticket}`, { headers: { 'user-agent': userAgent } });
    /** A one-time ticket from the API, then the browser's entry with it (as nginx forwards it): the cookie value. */
    const enter = async (user: SignedInUser, workspaceId: string, userAgent: string) => {
      const ticket = await ticketFor(user, workspaceId);
      const entered = await present(ticket, userAgent);
      expect(entered.status, await entered.clone().text()).toBe(303);
      const cookie = /warden_workspace=([A-Za-z0-9_-]{43});/.exec(
        entered.headers.get('set-cookie') ?? '',
      )?.[1];
      expect(cookie).toBeDefined();
      return { ticket, session: cookie as string };
    };
    /** nginx's check of one request to the workspace with the session cookie: 204 let through, 401 not. */
    const check = async (session: string, workspaceId: string) =>
      (
        await http.request(`/workspace-access/check/${workspaceId}`, {
          headers: { cookie: `warden_workspace=${session}` },
        })
      ).status;
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

    it('lists each open session with a public id, its times, browser and address; never a ticket, cookie or hash; ends one by its id; drops the expired', async () => {
      const alice = await t.user({ role: 'member' });
      const workspaceId = await readyWorkspace(t, alice, clock);
      expect((await list(alice, workspaceId)).page).toEqual({ items: [], next_cursor: null });

      const first = await enter(alice, workspaceId, FIREFOX);
      const second = await enter(alice, workspaceId, CURL);
      // A ticket nobody used is not a session.
      const unused = await api(alice, `/v1/workspaces/${workspaceId}/sessions`, 'POST');
      const unusedTicket = ((await unused.json()) as { ticket: string }).ticket;

      const { page, text } = await list(alice, workspaceId);
      expect(page.items).toHaveLength(2);
      expect(page.next_cursor).toBeNull();
      for (const secret of [first.session, second.session, first.ticket, second.ticket, unusedTicket]) {
        expect(text).not.toContain(secret);
        expect(text.toLowerCase()).not.toContain(sha256(secret));
      }
      // Newest first.
      const [newer, older] = page.items as [ListedSession, ListedSession];
      expect(newer.user_agent).toBe(CURL);
      expect(older.user_agent).toBe(FIREFOX);
      for (const item of page.items) {
        expect(item.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(item.client_address).toMatch(/127\.0\.0\.1/);
        expect(Date.parse(item.expires_at) - Date.parse(item.created_at)).toBe(SESSION_TTL_SECONDS * 1000);
        // Entering is the first use.
        expect(item.last_used_at).toBe(item.created_at);
      }
      expect(Date.parse(newer.created_at)).toBeGreaterThanOrEqual(Date.parse(older.created_at));
      // A page at a time, by the cursor each page gives.
      const firstPage = await api(alice, `/v1/workspaces/${workspaceId}/sessions?limit=1`);
      const one = (await firstPage.json()) as SessionPage;
      expect(one.items.map((s) => s.id)).toEqual([newer.id]);
      expect(one.next_cursor).toEqual(expect.any(String));
      const secondPage = await api(
        alice,
        `/v1/workspaces/${workspaceId}/sessions?limit=1&cursor=${encodeURIComponent(one.next_cursor ?? '')}`,
      );
      expect((await secondPage.json()) as SessionPage).toEqual({ items: [older], next_cursor: null });
      // The browser and address are kept sealed with the user's key, not in clear.
      const rows = await sql`select * from warden_workspace_access`.execute(t.database.db as never);
      expect(JSON.stringify(rows.rows)).not.toContain('Firefox');

      // Last use: recorded once a minute at most. Two minutes on, a request through nginx moves it;
      // thirty seconds later another (past the check's 5 s reuse) does not.
      ahead += 120_000;
      const usedAt = clock().getTime();
      expect(await check(first.session, workspaceId)).toBe(204);
      const used = (await list(alice, workspaceId)).page.items.find((s) => s.id === older.id);
      expect(Date.parse(used?.last_used_at ?? '')).toBeGreaterThanOrEqual(usedAt);
      ahead += 30_000;
      expect(await check(first.session, workspaceId)).toBe(204);
      const again = (await list(alice, workspaceId)).page.items.find((s) => s.id === older.id);
      expect(again?.last_used_at).toBe(used?.last_used_at);
      expect((await list(alice, workspaceId)).page.items.find((s) => s.id === newer.id)?.last_used_at).toBe(
        newer.last_used_at,
      );

      // Ending the first by its id ends it alone, at once; the second keeps working.
      const ended = await api(alice, `/v1/workspaces/${workspaceId}/sessions/${older.id}`, 'DELETE');
      expect(ended.status, await ended.clone().text()).toBe(204);
      expect(await check(first.session, workspaceId)).toBe(401);
      expect(await check(second.session, workspaceId)).toBe(204);
      expect((await list(alice, workspaceId)).page.items.map((s) => s.id)).toEqual([newer.id]);
      const twice = await api(alice, `/v1/workspaces/${workspaceId}/sessions/${older.id}`, 'DELETE');
      expect(twice.status).toBe(404);
      const events = await t.store.readStream(`workspaces.Workspace-${workspaceId}`);
      expect(events.filter((e) => e.type === 'WorkspaceSessionEnded').map((e) => e.data)).toEqual([
        expect.objectContaining({ workspaceId, sessionId: older.id, by: alice.userId }),
      ]);

      // Past its lifetime a session is neither listed nor let in.
      ahead += SESSION_TTL_SECONDS * 1000;
      expect((await list(alice, workspaceId)).page.items).toEqual([]);
      expect(await check(second.session, workspaceId)).toBe(401);
    });

    it('lists only sessions that still open the workspace (none from before a password change); an erased user’s browser and address read as erased', async () => {
      const [bob, carol] = await Promise.all([t.user({ role: 'member' }), t.user({ role: 'member' })]);
      const admin = await t.user({ tenant: bob.tenantSlug, role: 'admin' });
      const [bobWs, carolWs] = await Promise.all([
        readyWorkspace(t, bob, clock),
        readyWorkspace(t, carol, clock),
      ]);

      const before = await enter(bob, bobWs, FIREFOX);
      expect((await list(bob, bobWs)).page.items).toHaveLength(1);
      ahead += 1_000;
      const changed = await http.request('/v1/me/password', {
        token: bob.token,
        tenant: bob.tenantSlug,
        json: { current_password: bob.password, new_password: 'quartz-lantern-meadow-93' },
      });
      expect(changed.status, await changed.clone().text()).toBe(204);
      expect(await check(before.session, bobWs)).toBe(401);
      expect((await list(admin, bobWs)).page.items).toEqual([]);

      // Crypto-shredding: with the user's key destroyed, where the session came from reads as erased.
      await enter(carol, carolWs, FIREFOX);
      await t.personalData.erase(carol.userId);
      expect((await list(carol, carolWs)).page.items).toEqual([
        expect.objectContaining({ user_agent: '[erased]', client_address: '[erased]' }),
      ]);
    });

    it('keeps a ticket whose session could not be written: the same link enters once the write succeeds, and once only', async () => {
      const alice = await t.user({ role: 'member' });
      const workspaceId = await readyWorkspace(t, alice, clock);
      const ticket = await ticketFor(alice, workspaceId);
      const db = t.database.db as never;
      // The session's write fails for real, in the database: a trigger refuses session rows (Warden
      // has no seam to fail that one insert, and a stub would not show what the database keeps). It
      // refuses every session row, so it is dropped before the test goes on, and this file's other
      // tests (sharing the database) write sessions as usual.
      await sql`create function warden_test_refuse_session() returns trigger language plpgsql as $$
        begin raise exception 'session write refused (test)'; end $$`.execute(db);
      await sql`create trigger warden_test_refuse_session before insert on warden_workspace_access
        for each row when (new.kind = 'session') execute function warden_test_refuse_session()`.execute(db);
      try {
        const failed = await present(ticket, FIREFOX);
        expect(failed.status, await failed.clone().text()).toBe(500);
        expect(failed.headers.get('set-cookie')).toBeNull();
      } finally {
        await sql`drop trigger warden_test_refuse_session on warden_workspace_access`.execute(db);
        await sql`drop function warden_test_refuse_session()`.execute(db);
      }
      expect((await list(alice, workspaceId)).page.items).toEqual([]);

      const entered = await present(ticket, FIREFOX);
      expect(entered.status, await entered.clone().text()).toBe(303);
      const session = /warden_workspace=([A-Za-z0-9_-]{43});/.exec(
        entered.headers.get('set-cookie') ?? '',
      )?.[1];
      expect(await check(session ?? '', workspaceId)).toBe(204);
      expect((await list(alice, workspaceId)).page.items).toHaveLength(1);
      expect((await present(ticket, FIREFOX)).status).toBe(401);
    });

    it('lets one of several browsers racing with one ticket in: one session, the others 401', async () => {
      const alice = await t.user({ role: 'member' });
      const workspaceId = await readyWorkspace(t, alice, clock);
      const ticket = await ticketFor(alice, workspaceId);
      const answers = await Promise.all(Array.from({ length: 8 }, () => present(ticket, FIREFOX)));
      expect(answers.map((a) => a.status).sort()).toEqual([303, ...Array(7).fill(401)]);
      expect((await list(alice, workspaceId)).page.items).toHaveLength(1);
    });

    it('refuses as the other workspace routes do: another tenant 404, another member 404, an operator 403; a crafted or foreign session id ends nothing', async () => {
      const alice = await t.user({ role: 'member' });
      const [bob, operator, admin] = await Promise.all([
        t.user({ tenant: alice.tenantSlug, role: 'member' }),
        t.user({ tenant: alice.tenantSlug, role: 'operator' }),
        t.user({ tenant: alice.tenantSlug, role: 'admin' }),
      ]);
      const stranger = await t.user({ role: 'owner' });
      const [aliceWs, bobWs] = await Promise.all([
        readyWorkspace(t, alice, clock),
        readyWorkspace(t, bob, clock),
      ]);
      const aliceSession = await enter(alice, aliceWs, FIREFOX);
      const bobSession = await enter(bob, bobWs, FIREFOX);
      const [aliceItem] = (await list(alice, aliceWs)).page.items as [ListedSession];
      const [bobItem] = (await list(bob, bobWs)).page.items as [ListedSession];

      const one = `/v1/workspaces/${aliceWs}/sessions/${aliceItem.id}`;
      const all = `/v1/workspaces/${aliceWs}/sessions`;
      for (const [who, status] of [
        [stranger, 404],
        [bob, 404],
        [operator, 403],
      ] as const) {
        expect((await api(who, all)).status, `${who.role} lists`).toBe(status);
        expect((await api(who, one, 'DELETE')).status, `${who.role} ends one`).toBe(status);
        // The existing route answers them the same.
        expect((await api(who, all, 'DELETE')).status, `${who.role} ends all`).toBe(status);
      }
      // A manager may, as the existing DELETE lets them.
      expect((await list(admin, aliceWs)).page.items.map((s) => s.id)).toEqual([aliceItem.id]);

      // Crafted ids: not a uuid is a 400 naming the field; another workspace's session or an unknown
      // one is a 404, for the workspace's user and for a manager alike.
      for (const crafted of ['not-a-uuid', `${aliceItem.id}x`, "1' or '1'='1", aliceSession.session]) {
        const res = await api(alice, `${all}/${encodeURIComponent(crafted)}`, 'DELETE');
        expect(res.status, crafted).toBe(400);
        const problem = (await res.json()) as { errors: Array<{ path: string }> };
        expect(problem.errors.map((e) => e.path).join(' '), crafted).toContain('sessionId');
      }
      for (const user of [alice, admin]) {
        expect((await api(user, `${all}/${bobItem.id}`, 'DELETE')).status).toBe(404);
        expect((await api(user, `${all}/${crypto.randomUUID()}`, 'DELETE')).status).toBe(404);
      }
      expect((await api(alice, `/v1/workspaces/${bobWs}/sessions/${bobItem.id}`, 'DELETE')).status).toBe(404);
      const badCursor = await api(alice, `${all}?cursor=nonsense`);
      expect(badCursor.status).toBe(400);

      // Nothing was ended: both sessions still open their own workspace (and only it).
      expect(await check(aliceSession.session, aliceWs)).toBe(204);
      expect(await check(bobSession.session, bobWs)).toBe(204);
      expect(await check(bobSession.session, aliceWs)).toBe(401);
      expect((await list(alice, aliceWs)).page.items.map((s) => s.id)).toEqual([aliceItem.id]);
      expect((await list(bob, bobWs)).page.items.map((s) => s.id)).toEqual([bobItem.id]);
    });
  });
}
