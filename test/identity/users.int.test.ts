import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  emailClaimStreamId,
  membershipDecider,
  membershipStreamId,
  registerUser,
  userStreamId,
  verifyCredentials,
} from '../../src/commands/identity/index.ts';
import type { TenantRole } from '../../src/commands/identity/permissions.ts';
import { load } from '../../src/commands/kernel/handle.ts';
import type { PlanId } from '../../src/commands/tenancy/plans.ts';
import { argon2idHasher } from '../../src/identity/passwords.ts';
import { databaseKinds } from '../support/postgres.ts';
import { usersApp } from './support.ts';

type App = Awaited<ReturnType<typeof usersApp>>;
type UserBody = {
  id: string;
  email: string;
  status: string;
  role: string;
  revision: number;
  position: string;
};
const password = 'plum-orbit-kettle-47';
let counter = 0;
const email = (base = 'user') => `${base}.${Date.now().toString(36)}.${counter++}@example.com`;

for (const kind of databaseKinds) {
  describe(`users over HTTP (${kind.name})`, () => {
    let t: App;
    beforeAll(async () => {
      t = await usersApp(kind.fresh);
    });
    afterAll(async () => {
      await t.dispose();
    });

    const tenant = (plan?: PlanId) => t.tenant(plan);
    /** Leaves out the callers `usersApp` signs in to send requests: real members of the tenant too. */
    const people = <T extends { email?: string }>(items: T[]) =>
      items.filter((i) => !i.email?.endsWith('@callers.test'));
    const register = (tenantId: string, body: Record<string, unknown>) =>
      t.request('/v1/auth/register', { method: 'POST', caller: { tenantId }, json: body });
    /** Registers and finds the user it made: the answer (202, the same for a taken email) names none. */
    const signUp = async (tenantId: string, body: { email: string; password: string; name: string }) => {
      const res = await register(tenantId, body);
      expect(res.status, await res.clone().text()).toBe(202);
      return t.registered(tenantId, body.email);
    };
    const setPolicy = async (tenantId: string, policy: string) => {
      const res = await t.request('/v1/signup-policy', {
        method: 'PUT',
        caller: { tenantId: tenantId, role: 'owner' },
        json: { policy },
      });
      expect(res.status).toBe(200);
    };
    // Counted in the table itself: readAll stops below the server-wide snapshot horizon, which other
    // sessions on a shared server may hold back for a moment.
    const eventCount = async () => {
      const row = await t.database.db
        .selectFrom('warden_events')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    };

    it('registers under the open policy: 202 (no id, no Location), an active member, email lowercased, listed, never the hash', async () => {
      const tid = await tenant();
      const mail = email('Ada');
      const res = await register(tid, { email: `  ${mail.toUpperCase()} `, password, name: 'Ada' });
      expect(res.status, await res.clone().text()).toBe(202);
      expect(await res.json()).toEqual({ status: 'accepted', detail: expect.any(String) });
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('x-position')).toBeNull();
      const body = await t.registered(tid, mail);
      const read = await t.request(`/v1/users/${body.id}`, { caller: { tenantId: tid, role: 'admin' } });
      expect(await read.json()).toMatchObject({
        email: mail.toLowerCase(),
        status: 'active',
        role: 'member',
        // 0: registered; 1: the verification link an open tenant's sign-up is sent.
        revision: 1,
      });
      const list = await t.request('/v1/users', {
        caller: { tenantId: tid, role: 'admin' },
        headers: { 'x-min-position': body.position },
      });
      expect(list.status).toBe(200);
      const page = (await list.json()) as { items: UserBody[] };
      expect(people(page.items).map((i) => i.email)).toEqual([mail.toLowerCase()]);
      expect(JSON.stringify(page)).not.toContain('argon2');
    });

    it('approval policy: pending until approved; approving twice is a 409 problem and appends nothing', async () => {
      const tid = await tenant();
      await setPolicy(tid, 'approval');
      const user = await signUp(tid, { email: email(), password, name: 'Pat' });
      expect(user.status).toBe('pending_approval');
      const approve = () =>
        t.request(`/v1/users/${user.id}/approve`, {
          method: 'POST',
          caller: { tenantId: tid, role: 'admin' },
        });
      const first = await approve();
      expect(first.status).toBe(200);
      expect(await first.json()).toMatchObject({ status: 'active', revision: 1 });
      const before = await eventCount();
      const second = await approve();
      expect(second.status).toBe(409);
      expect(second.headers.get('content-type')).toBe('application/problem+json');
      expect(await eventCount()).toBe(before);
    });

    it('rejecting a pending user frees the email and the seat', async () => {
      const tid = await tenant();
      await setPolicy(tid, 'approval');
      const mail = email();
      const user = await signUp(tid, { email: mail, password, name: 'Rex' });
      const reject = await t.request(`/v1/users/${user.id}/reject`, {
        method: 'POST',
        caller: { tenantId: tid, role: 'admin' },
      });
      expect(reject.status).toBe(200);
      const seats = await load(t.store, membershipStreamId(tid), membershipDecider);
      expect(seats.state.seats.has(user.id)).toBe(false);
      expect((await register(tid, { email: mail, password, name: 'Rex' })).status).toBe(202);
      const again = await t.registered(tid, mail, user.position);
      expect(
        (await load(t.store, membershipStreamId(tid), membershipDecider)).state.seats.has(again.id),
      ).toBe(true);
    });

    it('closed policy (invitation only): 403 and nothing appended', async () => {
      const tid = await tenant();
      await setPolicy(tid, 'closed');
      const before = await eventCount();
      const res = await register(tid, { email: email(), password, name: 'Cy' });
      expect(res.status).toBe(403);
      expect(await eventCount()).toBe(before);
    });

    it('20 parallel registrations of one email (any case): all the same 202, exactly one user', async () => {
      const tid = await tenant();
      const mail = email('race');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          register(tid, { email: i % 2 ? mail.toUpperCase() : mail, password, name: `R${i}` }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(202));
      expect(new Set(await Promise.all(results.map((r) => r.text()))).size).toBe(1);
      const created = await t.registered(tid, mail);
      // Registered once, and sent one verification link (an open tenant).
      expect((await t.store.readStream(userStreamId(created.id))).map((e) => e.type)).toEqual([
        'UserRegistered',
        'EmailVerificationRequested',
      ]);
      const seats = await load(t.store, membershipStreamId(tid), membershipDecider);
      expect([...seats.state.seats]).toEqual([created.id]);
    });

    it('one seat left on the plan + 20 parallel registrations of different emails: exactly one 202', async () => {
      const tid = await tenant('free');
      for (let i = 0; i < 4; i++) {
        expect((await register(tid, { email: email('seat'), password, name: 'S' })).status).toBe(202);
      }
      const emails = Array.from({ length: 20 }, () => email('last'));
      const results = await Promise.all(emails.map((e) => register(tid, { email: e, password, name: 'L' })));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 202)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(19);
      const seats = await load(t.store, membershipStreamId(tid), membershipDecider);
      expect(seats.state.seats.size).toBe(5);
      const streams = await Promise.all(
        emails.map(async (e) => {
          const [claimId] = await t.identity.userIds!.candidates(tid, e);
          return (await t.store.readStream(emailClaimStreamId(claimId))).length;
        }),
      );
      expect(streams.sort()).toEqual([...Array(19).fill(0), 1]);
    });

    describe('bad input is a 400 problem naming the field, and appends nothing', () => {
      const cases: [string, Record<string, unknown>, string][] = [
        ['malformed email', { email: 'not-an-email', password, name: 'X' }, 'email'],
        ['password too short', { email: 'a@example.com', password: 'short7!', name: 'X' }, 'password'],
        ['password too long', { email: 'a@example.com', password: 'z'.repeat(257), name: 'X' }, 'password'],
        ['common password', { email: 'a@example.com', password: 'baseball', name: 'X' }, 'password'],
        ['unknown field', { email: 'a@example.com', password, name: 'X', role: 'owner' }, 'role'],
        ['missing name', { email: 'a@example.com', password }, 'name'],
      ];
      for (const [what, body, path] of cases) {
        it(what, async () => {
          const tid = await tenant();
          const before = await eventCount();
          const res = await register(tid, body);
          expect(res.status).toBe(400);
          expect(res.headers.get('content-type')).toBe('application/problem+json');
          const problem = (await res.json()) as { errors: { path: string }[] };
          expect(problem.errors.map((e) => e.path)).toContain(path);
          expect(await eventCount()).toBe(before);
        });
      }
    });

    it('changes a role with If-Match (stale is 412), removes a user (UserRemoved, gone from the list)', async () => {
      const tid = await tenant();
      const mo = email();
      const user = await signUp(tid, { email: mo, password, name: 'Mo' });
      // An open tenant's sign-up gets a role only once its email is verified (revisions 1 and 2).
      await t.verifyEmail(t.slugOf(tid), mo);
      const stale = await t.request(`/v1/users/${user.id}`, {
        method: 'PATCH',
        caller: { tenantId: tid, role: 'admin' },
        headers: { 'if-match': '"7"' },
        json: { role: 'approver' },
      });
      expect(stale.status).toBe(412);
      const patch = await t.request(`/v1/users/${user.id}`, {
        method: 'PATCH',
        caller: { tenantId: tid, role: 'admin' },
        headers: { 'if-match': '"2"' },
        json: { role: 'approver' },
      });
      expect(patch.status).toBe(200);
      expect(patch.headers.get('etag')).toBe('"3"');
      const owner = await t.request(`/v1/users/${user.id}`, {
        method: 'PATCH',
        caller: { tenantId: tid, role: 'admin' },
        json: { role: 'owner' },
      });
      expect(owner.status).toBe(403);
      const del = await t.request(`/v1/users/${user.id}`, {
        method: 'DELETE',
        caller: { tenantId: tid, role: 'admin' },
      });
      expect(del.status).toBe(204);
      const events = await t.store.readStream(userStreamId(user.id));
      expect(events.map((e) => e.type)).toEqual([
        'UserRegistered',
        'EmailVerificationRequested',
        'EmailVerified',
        'UserRoleChanged',
        'UserRemoved',
      ]);
      const list = await t.request('/v1/users', {
        caller: { tenantId: tid, role: 'admin' },
        headers: { 'x-min-position': del.headers.get('x-position')! },
      });
      expect(people(((await list.json()) as { items: UserBody[] }).items)).toEqual([]);
      expect(
        (await t.request(`/v1/users/${user.id}`, { caller: { tenantId: tid, role: 'admin' } })).status,
      ).toBe(404);
    });

    it('an admin adds a user who is active at once even when sign-up is closed; only an owner adds an owner', async () => {
      const tid = await tenant();
      await setPolicy(tid, 'closed');
      const add = (role: TenantRole, body: Record<string, unknown>) =>
        t.request('/v1/users', { method: 'POST', caller: { tenantId: tid, role }, json: body });
      const res = await add('admin', { email: email('added'), password, name: 'Ad', role: 'operator' });
      expect(res.status, await res.clone().text()).toBe(201);
      expect(await res.json()).toMatchObject({ status: 'active', role: 'operator' });
      expect((await add('admin', { email: email(), password, name: 'Ow', role: 'owner' })).status).toBe(403);
      expect((await add('owner', { email: email(), password, name: 'Ow', role: 'owner' })).status).toBe(201);
      expect((await add('approver', { email: email(), password, name: 'No' })).status).toBe(403);
      expect((await add('admin', { email: email(), password: 'password1', name: 'Pw' })).status).toBe(400);
    });

    it('asks for the permission: 401 without a caller, 403 for a member, and another tenant’s user is 404', async () => {
      const tid = await tenant();
      const user = await signUp(tid, { email: email(), password, name: 'Iz' });
      expect((await t.request('/v1/users', { caller: { tenantId: tid } })).status).toBe(401);
      expect((await t.request('/v1/users', { caller: { tenantId: tid, role: 'member' } })).status).toBe(403);
      expect(
        (
          await t.request(`/v1/users/${user.id}`, {
            method: 'DELETE',
            caller: { tenantId: tid, role: 'approver' },
          })
        ).status,
      ).toBe(403);
      const other = await tenant();
      expect(
        (await t.request(`/v1/users/${user.id}`, { caller: { tenantId: other, role: 'owner' } })).status,
      ).toBe(404);
      expect(
        (
          await t.request(`/v1/users/${user.id}/approve`, {
            method: 'POST',
            caller: { tenantId: other, role: 'owner' },
          })
        ).status,
      ).toBe(404);
      expect(
        (await t.request(`/v1/users/${user.id}`, { caller: { tenantId: tid, role: 'approver' } })).status,
      ).toBe(200);
      const foreign = await t.request('/v1/users', {
        caller: { tenantId: other, role: 'owner' },
        headers: { 'x-min-position': user.position },
      });
      expect(people(((await foreign.json()) as { items: UserBody[] }).items)).toEqual([]);
    });

    it('lists with search, role and status filters and a keyset cursor', async () => {
      const tid = await tenant();
      await setPolicy(tid, 'approval'); // as the owner
      // The admin who lists signs in first, so the positions below cover them as well.
      await t.request('/v1/users', { caller: { tenantId: tid, role: 'admin' } });
      let position = '0';
      const ids: string[] = [];
      for (const name of ['Alice Smith', 'Bob Stone', 'Carol Smith', 'Dan Jones']) {
        const body = await signUp(tid, { email: email(name.split(' ')[0]), password, name });
        ids.push(body.id);
        position = body.position;
      }
      const approved = await t.request(`/v1/users/${ids[0]}/approve`, {
        method: 'POST',
        caller: { tenantId: tid, role: 'owner' },
      });
      position = approved.headers.get('x-position')!;
      const get = async (query: string) => {
        const res = await t.request(`/v1/users?${query}`, {
          caller: { tenantId: tid, role: 'admin' },
          headers: { 'x-min-position': position },
        });
        expect(res.status).toBe(200);
        return (await res.json()) as { items: { name: string; email: string }[]; next_cursor: string | null };
      };
      expect((await get('q=smith')).items.map((i) => i.name).sort()).toEqual(['Alice Smith', 'Carol Smith']);
      expect((await get('q=BOB')).items.map((i) => i.name)).toEqual(['Bob Stone']);
      expect(people((await get('status=active')).items).map((i) => i.name)).toEqual(['Alice Smith']);
      expect((await get('status=pending_approval&role=member')).items).toHaveLength(3);
      expect((await get('role=admin')).items.map((i) => i.name)).toEqual(['Caller admin']);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: { name: string }[]; next_cursor: string | null } = await get(
          `limit=3&sort=-email${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen.push(...page.items.map((i) => i.name));
        cursor = page.next_cursor;
      } while (cursor);
      // By email, descending: caller-… sorts between carol… and bob….
      expect(seen).toEqual([
        'Dan Jones',
        'Carol Smith',
        'Caller owner',
        'Caller admin',
        'Bob Stone',
        'Alice Smith',
      ]);
      const bad = await t.request('/v1/users?cursor=garbage&sort=email', {
        caller: { tenantId: tid, role: 'admin' },
      });
      expect(bad.status).toBe(400);
    });

    it('verifyCredentials: right password ok; wrong and unknown alike refused; old parameters rehashed once', async () => {
      const tid = await tenant();
      const mail = email('login');
      const cheap = argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
      const created = await registerUser(
        t.store,
        cheap,
        {
          tenantId: tid,
          email: mail,
          name: 'Lo',
          password,
          role: 'owner',
          via: 'admin',
          maxUsers: null,
          defaultPolicy: 'closed',
          at: new Date().toISOString(),
        },
        { metadata: { tenantId: tid } },
      );
      const deps = { store: t.store, hasher: t.hasher, clock: () => new Date() };
      expect(await verifyCredentials(deps, tid, 'nobody@example.com', password)).toEqual({
        ok: false,
        reason: 'invalid_credentials',
      });
      expect(await verifyCredentials(deps, tid, mail, 'wrong-password-1')).toEqual({
        ok: false,
        reason: 'invalid_credentials',
      });
      expect(await verifyCredentials(deps, await tenant(), mail, password)).toMatchObject({ ok: false });
      const ok = await verifyCredentials(deps, tid, mail.toUpperCase(), password);
      expect(ok).toMatchObject({ ok: true, user: { userId: created.state.userId, role: 'owner' } });
      const again = await verifyCredentials(deps, tid, mail, password);
      expect(again.ok).toBe(true);
      const events = await t.store.readStream(userStreamId(created.state.userId));
      expect(events.map((e) => e.type)).toEqual(['UserRegistered', 'UserPasswordRehashed']);
      expect((events[1]!.data as { passwordHash: string }).passwordHash).toMatch(/m=19456,t=2,p=1/);
    });

    it('a pending user with the right password is told not_active; with a wrong one, invalid', async () => {
      const tid = await tenant();
      await setPolicy(tid, 'approval');
      const mail = email();
      await signUp(tid, { email: mail, password, name: 'Pe' });
      // Registered over HTTP: under the app's keyed ids.
      const deps = { store: t.store, hasher: t.hasher, clock: () => new Date(), userIds: t.identity.userIds };
      expect(await verifyCredentials(deps, tid, mail, password)).toEqual({ ok: false, reason: 'not_active' });
      expect(await verifyCredentials(deps, tid, mail, 'wrong-password-1')).toEqual({
        ok: false,
        reason: 'invalid_credentials',
      });
    });
  });
}
