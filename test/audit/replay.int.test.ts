import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReplayResult, replayStream } from '../../src/audit/replay.ts';
import { replaySnapshots } from '../../src/audit/snapshots.ts';
import {
  changeUser,
  membershipStreamId,
  registerUser,
  userStreamId,
} from '../../src/commands/identity/index.ts';
import { aggregateRegistry } from '../../src/commands/registry/index.ts';
import { changeTenantDomain, domainStreamId } from '../../src/commands/tenancy/domains.ts';
import { createTenant, tenantStreamId, updateTenant } from '../../src/commands/tenancy/index.ts';
import {
  changeIssue,
  changeProject,
  createIssue,
  createProject,
  issueStreamId,
  projectStreamId,
} from '../../src/commands/tracker/index.ts';
import type { EventStore, NewEvent } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { upcasters } from '../../src/eventstore/upcasters.ts';
import { upcastingStore } from '../../src/eventstore/upcasting.ts';
import { argon2idHasher } from '../../src/identity/passwords.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

const registry = aggregateRegistry();
const hasher = argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
const ctx = (tenantId?: string) => ({
  metadata: { requestId: 'replay-test', correlationId: 'replay-test', ...(tenantId ? { tenantId } : {}) },
});
const t0 = Date.parse('2026-02-01T10:00:00Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();
let counter = 0;
const slug = () => `replay-${Date.now().toString(36)}-${counter++}`;

async function replayed(store: EventStore, streamId: string, point: Parameters<typeof replayStream>[3]) {
  const outcome = await replayStream(store, registry, streamId, point, { steps: true });
  if (!outcome.ok) throw new Error(`replay of ${streamId}: ${outcome.reason}`);
  return outcome.result;
}
const state = (r: ReplayResult) => r.state as Record<string, unknown>;

for (const kind of databaseKinds) {
  describe(`replay to a point in time (${kind.name})`, () => {
    let db: TestDatabase;
    let store: EventStore;
    beforeAll(async () => {
      db = await kind.fresh();
      store = upcastingStore(postgresEventStore(db.database), upcasters);
    });
    afterAll(async () => {
      await db.dispose();
    });

    it('tenant: each revision, a time between events, before it existed, and the latest', async () => {
      const s = slug();
      const created = await createTenant(store, { slug: s, name: 'Acme', plan: 'free', at: at(0) }, ctx());
      const id = created.state.tenantId;
      await updateTenant(store, id, { type: 'UpdateTenant', name: 'Acme Corp', at: at(1) }, ctx(id));
      await updateTenant(store, id, { type: 'SuspendTenant', reason: 'unpaid', at: at(2) }, ctx(id));
      const stream = tenantStreamId(id);

      const first = await replayed(store, stream, { kind: 'revision', revision: 0 });
      expect(first).toMatchObject({ revision: 0, latestRevision: 2, entity: 'tenancy.Tenant', tenantId: id });
      expect(state(first)).toMatchObject({ exists: true, name: 'Acme', status: 'active' });
      expect(state(await replayed(store, stream, { kind: 'revision', revision: 1 }))).toMatchObject({
        name: 'Acme Corp',
        status: 'active',
      });
      const latest = await replayed(store, stream, { kind: 'latest' });
      expect(state(latest)).toMatchObject({ name: 'Acme Corp', status: 'suspended' });
      // A revision past the end is the latest state.
      expect((await replayed(store, stream, { kind: 'revision', revision: 99 })).revision).toBe(2);

      // By time: recorded times are the store's; replay up to the second event's time.
      const events = await store.readStream(stream);
      const second = await replayed(store, stream, { kind: 'time', at: events[1]!.recordedAt });
      expect(second.revision).toBeGreaterThanOrEqual(1);
      expect(state(second).name).toBe('Acme Corp');

      const before = await replayed(store, stream, {
        kind: 'time',
        at: new Date(events[0]!.recordedAt.getTime() - 1000),
      });
      expect(before.revision).toBe(-1);
      expect(before.recordedAt).toBeNull();
      expect(state(before)).toMatchObject({ exists: false, name: '' });

      // --diff: what each event changed.
      expect(latest.steps?.map((s) => s.type)).toEqual(['TenantCreated', 'TenantRenamed', 'TenantSuspended']);
      expect(latest.steps?.[1]?.changes).toEqual([
        { path: 'name', from: 'Acme', to: 'Acme Corp' },
        { path: 'updatedAt', from: at(0), to: at(1) },
      ]);
      expect(latest.steps?.[2]?.changes).toContainEqual({ path: 'status', from: 'active', to: 'suspended' });
    });

    it('custom domain: claimed, verified, released, claimed by another tenant', async () => {
      const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
      const domain = `${slug()}.example.com`;
      const reserved = { baseDomain: 'warden.test', platformHosts: [] };
      const [tokenA, tokenB] = ['token-of-a-0123456789', 'token-of-b-0123456789'];
      await changeTenantDomain(
        store,
        { type: 'AddTenantDomain', tenantId: a, domain, verificationToken: tokenA, reserved, at: at(0) },
        ctx(a),
      );
      await changeTenantDomain(
        store,
        { type: 'VerifyTenantDomain', tenantId: a, domain, found: [tokenA], at: at(1) },
        ctx(a),
      );
      await changeTenantDomain(store, { type: 'RemoveTenantDomain', tenantId: a, domain, at: at(2) }, ctx(a));
      await changeTenantDomain(
        store,
        { type: 'AddTenantDomain', tenantId: b, domain, verificationToken: tokenB, reserved, at: at(3) },
        ctx(b),
      );
      const stream = await domainStreamId(domain);
      const held = (
        tenantId: string,
        verificationToken: string,
        addedAt: string,
        verifiedAt: string | null,
      ) => ({
        domain,
        tenantId,
        verificationToken,
        addedAt,
        verifiedAt,
      });
      expect(state(await replayed(store, stream, { kind: 'revision', revision: 0 }))).toEqual(
        held(a, tokenA, at(0), null),
      );
      expect(state(await replayed(store, stream, { kind: 'revision', revision: 1 }))).toEqual(
        held(a, tokenA, at(0), at(1)),
      );
      expect(state(await replayed(store, stream, { kind: 'revision', revision: 2 }))).toEqual({
        domain,
        tenantId: null,
        verificationToken: null,
        addedAt: null,
        verifiedAt: null,
      });
      expect(state(await replayed(store, stream, { kind: 'latest' }))).toEqual(held(b, tokenB, at(3), null));
    });

    it('user and membership: role changes and seats, never the password hash', async () => {
      const tenantId = crypto.randomUUID();
      const registered = await registerUser(
        store,
        hasher,
        {
          tenantId,
          email: `ada.${counter++}@example.com`,
          name: 'Ada',
          password: 'plum-orbit-kettle-47',
          role: 'member',
          via: 'admin',
          maxUsers: null,
          defaultPolicy: 'open',
          at: at(0),
        },
        ctx(tenantId),
      );
      const userId = registered.state.userId;
      await changeUser(
        store,
        tenantId,
        userId,
        { type: 'ChangeRole', role: 'admin', actorIsOwner: true, at: at(1) },
        ctx(tenantId),
      );
      const stream = userStreamId(userId);
      const then = await replayed(store, stream, { kind: 'revision', revision: 0 });
      expect(state(then)).toMatchObject({ role: 'member', status: 'active', name: 'Ada' });
      const now = await replayed(store, stream, { kind: 'latest' });
      expect(state(now)).toMatchObject({ role: 'admin' });
      expect(JSON.stringify(now)).not.toContain('argon2');
      expect(state(now)).not.toHaveProperty('passwordHash');
      expect(now.steps?.[1]?.changes).toContainEqual({ path: 'role', from: 'member', to: 'admin' });

      const membership = await replayed(store, membershipStreamId(tenantId), { kind: 'latest' });
      expect(membership.entity).toBe('identity.TenantMembership');
      expect(state(membership).seats).toEqual([userId]);
      const empty = await replayed(store, membershipStreamId(tenantId), {
        kind: 'time',
        at: new Date('2000-01-01T00:00:00Z'),
      });
      expect(state(empty).seats).toEqual([]);
    });

    it('an unknown stream is unknown; a stream without an aggregate says so', async () => {
      expect(
        await replayStream(store, registry, `tenancy.Tenant-${crypto.randomUUID()}`, { kind: 'latest' }),
      ).toEqual({ ok: false, reason: 'unknown-stream' });
      const stream = `identity.TokenFamily-${crypto.randomUUID()}`;
      await store.append(stream, [{ id: crypto.randomUUID(), type: 'TokenFamilyRevoked', data: {} }]);
      expect(await replayStream(store, registry, stream, { kind: 'latest' })).toEqual({
        ok: false,
        reason: 'not-an-aggregate',
      });
    });

    it('tracker: a project renamed and an issue moved through its statuses', async () => {
      const tenantId = crypto.randomUUID();
      const lead = { userId: crypto.randomUUID(), tenantAdmin: true };
      const project = await createProject(
        store,
        {
          tenantId,
          key: 'AUD',
          name: 'Audit',
          description: '',
          labels: ['bug'],
          leadId: lead.userId,
          leadEmail: 'lead@example.com',
          at: at(0),
        },
        ctx(tenantId),
      );
      const projectId = project.state.projectId;
      await changeProject(
        store,
        tenantId,
        projectId,
        { type: 'RenameProject', name: 'Audit 2', actor: lead, at: at(1) },
        ctx(tenantId),
      );
      const issue = await createIssue(
        store,
        {
          tenantId,
          projectId,
          actor: lead,
          assigneeId: null,
          fields: {
            title: 'Replay me',
            description: '',
            type: 'task',
            priority: 'medium',
            labels: [],
            dueDate: null,
          },
          at: at(2),
        },
        ctx(tenantId),
      );
      const issueId = issue.state.issueId;
      await changeIssue(
        store,
        tenantId,
        issueId,
        { type: 'TransitionIssue', to: 'resolved', resolution: 'fixed', actor: lead, at: at(3) } as never,
        ctx(tenantId),
      );

      const p0 = await replayed(store, projectStreamId(projectId), { kind: 'revision', revision: 0 });
      expect(p0.entity).toBe('tracker.Project');
      expect(state(p0)).toMatchObject({ name: 'Audit', key: 'AUD' });
      expect(state(await replayed(store, projectStreamId(projectId), { kind: 'latest' }))).toMatchObject({
        name: 'Audit 2',
      });
      const i0 = await replayed(store, issueStreamId(issueId), { kind: 'revision', revision: 0 });
      expect(i0.entity).toBe('tracker.Issue');
      expect(state(i0)).toMatchObject({ status: 'open', key: 'AUD-1' });
      const i1 = await replayed(store, issueStreamId(issueId), { kind: 'latest' });
      expect(state(i1)).toMatchObject({ status: 'resolved', resolution: 'fixed' });
      expect(i1.steps?.[1]?.changes).toContainEqual({ path: 'status', from: 'open', to: 'resolved' });
    });

    it('snapshots: replays from a cached state give exactly what a full fold gives', async () => {
      const s = slug();
      const created = await createTenant(store, { slug: s, name: 'Long', plan: 'free', at: at(0) }, ctx());
      const id = created.state.tenantId;
      const stream = tenantStreamId(id);
      for (let batch = 0; batch < 4; batch++) {
        const events: NewEvent[] = Array.from({ length: 100 }, (_, i) => ({
          id: crypto.randomUUID(),
          type: 'TenantRenamed',
          data: { tenantId: id, name: `Long ${batch * 100 + i}`, at: at(batch * 100 + i + 1) },
          metadata: { tenantId: id },
        }));
        await store.append(stream, events, { expected: batch * 100 });
      }
      const snapshots = replaySnapshots(db.database.db as never, {
        upcasters: upcasters.fingerprint,
        every: 50,
      });
      const count = async (streamId: string) => {
        const { rows } = await sql<{ n: string }>`
          select count(*) as n from warden_replay_snapshots where stream_id = ${streamId}`.execute(
          db.database.db,
        );
        return Number(rows[0]!.n);
      };
      const events = await store.readStream(stream);
      const points = [
        { kind: 'latest' } as const,
        ...[0, 49, 50, 99, 137, 250, 399, 400].map((revision) => ({ kind: 'revision', revision }) as const),
        ...[3, 120, 301].map((r) => ({ kind: 'time', at: events[r]!.recordedAt }) as const),
      ];
      for (const round of [1, 2]) {
        for (const point of points) {
          const full = await replayStream(store, registry, stream, point);
          const cached = await replayStream(store, registry, stream, point, { snapshots });
          expect(cached, `${JSON.stringify(point)} round ${round}`).toEqual(full);
        }
      }
      // One snapshot per 50 revisions folded, none for the user stream (personal data).
      expect(await count(stream)).toBe(8);
      // Other upcasters (or other aggregate code) never read these snapshots.
      const other = replaySnapshots(db.database.db as never, { upcasters: 'another', every: 50 });
      expect(
        await other.find(stream, registry.forStream(stream)!.fingerprint, { kind: 'latest' }, 400),
      ).toBeUndefined();
      const userStream = userStreamId(crypto.randomUUID());
      await store.append(userStream, [
        {
          id: crypto.randomUUID(),
          type: 'UserApproved',
          data: { userId: crypto.randomUUID(), tenantId: id, at: at(0) },
        },
      ]);
      await replayStream(
        store,
        registry,
        userStream,
        { kind: 'latest' },
        { snapshots: replaySnapshots(db.database.db as never, { upcasters: '', every: 1 }) },
      );
      expect(await count(userStream)).toBe(0);
    });
  });
}
