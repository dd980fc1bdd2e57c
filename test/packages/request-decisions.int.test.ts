import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changePackage,
  defaultPolicy,
  type PackageCommand,
  requestStreamId,
} from '../../src/commands/packages/index.ts';
import { packagePipeline } from '../../src/processes/packages/pipeline.ts';
import { processContext } from '../../src/processes/runtime/index.ts';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { databaseKinds } from '../support/postgres.ts';
import { lastWritten } from '../support/visibility.ts';

const lockfile = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures', 'lockfiles', 'lock-v3.json'), 'utf8'),
) as Record<string, unknown>;

const policy = { ...defaultPolicy, version: 0 };
const at = () => new Date().toISOString();

for (const kind of databaseKinds) {
  describe(`whole package requests: approve, reject, list filters (${kind.name})`, () => {
    let t: TestApp;
    let member: SignedInUser;
    let approver: SignedInUser;
    let outsider: SignedInUser;
    let tenantId: string;

    const call = async (user: SignedInUser, path: string, init: { json?: unknown; method?: string } = {}) => {
      const res = await t.request(path, {
        token: user.token,
        tenant: user.tenantSlug,
        headers: { 'x-min-position': (await lastWritten(t.database.db)).toString() },
        ...init,
      });
      const text = await res.text();
      return {
        status: res.status,
        type: res.headers.get('content-type'),
        body: JSON.parse(text) as LooseJson,
      };
    };
    const eventCount = async () => Number(await lastWritten(t.database.db));
    const move = (spec: string, command: Exclude<PackageCommand, { type: 'ReceivePackage' }>) =>
      changePackage(t.store, tenantId, spec, command, { metadata: { tenantId } });
    /** Through the pipeline's stages by hand, to waiting for an approver (the scan could not run). */
    const toWaiting = async (spec: string) => {
      await move(spec, { type: 'StartProcessing', at: at() });
      await move(spec, {
        type: 'RecordLicense',
        expression: 'MIT',
        verdict: 'allowed',
        reason: 'ok',
        policy,
        at: at(),
      });
      await move(spec, {
        type: 'RecordDownload',
        integrity: 'sha512-x',
        shasum: 'x',
        size: 1,
        unpackedSize: 1,
        manifestLicense: 'MIT',
        deprecated: null,
        at: at(),
      });
      await move(spec, {
        type: 'RecordScan',
        findings: [],
        advisories: null,
        unavailable: ['osv'],
        policy,
        at: at(),
      });
    };
    const submit = async (user: SignedInUser) => {
      const submitted = await call(user, '/v1/package-requests', { json: lockfile });
      expect(submitted.status).toBe(202);
      const [event] = await t.store.readStream(requestStreamId(submitted.body.id));
      await packagePipeline.handle(
        event!,
        processContext('packagePipeline', event!, {
          store: t.store,
          db: t.database.db as never,
          logger: console,
        }),
      );
      return submitted.body.id as string;
    };

    beforeAll(async () => {
      t = await testApp(kind.fresh);
      const created = await t.tenant();
      tenantId = created.id;
      member = await t.user({ tenant: created.slug, role: 'member' });
      approver = await t.user({ tenant: created.slug, role: 'approver' });
      outsider = await t.user({ role: 'owner' });
    });
    afterAll(() => t?.dispose());

    it('approves each waiting package of a request, answers per package, and leaves the others alone (idempotent per package)', async () => {
      const id = await submit(member);
      // Five packages in different states: two waiting, one waiting but malicious, one still received, one rejected.
      await toWaiting('@types/ms@0.7.34');
      await toWaiting('debug@2.6.9');
      await toWaiting('is-number@7.0.0');
      await move('is-number@7.0.0', {
        type: 'RecordFinding',
        finding: { id: 'MAL-2026-1', kind: 'malicious', severity: 'critical', summary: 'malware' },
        advisories: 'import-1',
        at: at(),
      });
      await move('ms@2.1.3', {
        type: 'RejectAutomatically',
        stage: 'license',
        code: 'license_denied',
        reason: 'denied',
        policy,
        at: at(),
      });

      const approved = await call(approver, `/v1/package-requests/${id}/approve`, {
        json: { reason: 'reviewed' },
      });
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      const byspec = (body: LooseJson) =>
        Object.fromEntries(
          body.packages.map((p: { spec: string; outcome: string; status: string; rule?: string }) => [
            p.spec,
            [p.outcome, p.status, ...(p.rule ? [p.rule] : [])],
          ]),
        );
      expect(byspec(approved.body)).toEqual({
        '@types/ms@0.7.34': ['approved', 'approved'],
        'debug@2.6.9': ['approved', 'approved'],
        'is-number@7.0.0': ['refused', 'awaiting_approval', 'malicious_package'],
        'ms@2.0.0': ['not_waiting', 'received'],
        'ms@2.1.3': ['not_waiting', 'rejected'],
      });
      const one = await call(member, `/v1/packages/${encodeURIComponent('debug@2.6.9')}`);
      expect(one.body.decision).toMatchObject({ by: approver.userId, reason: 'reviewed' });

      // Again: nothing waits that can be approved, nothing is appended.
      const before = await eventCount();
      const again = await call(approver, `/v1/package-requests/${id}/approve`, {
        json: { reason: 'reviewed' },
      });
      expect(byspec(again.body)['debug@2.6.9']).toEqual(['not_waiting', 'approved']);
      expect(await eventCount()).toBe(before);

      // Rejecting the request rejects only what still waits.
      const rejected = await call(approver, `/v1/package-requests/${id}/reject`, {
        json: { reason: 'malware' },
      });
      expect(rejected.status).toBe(200);
      expect(byspec(rejected.body)).toEqual({
        '@types/ms@0.7.34': ['not_waiting', 'approved'],
        'debug@2.6.9': ['not_waiting', 'approved'],
        'is-number@7.0.0': ['rejected', 'rejected'],
        'ms@2.0.0': ['not_waiting', 'received'],
        'ms@2.1.3': ['not_waiting', 'rejected'],
      });
    });

    it('refuses a lower role (403), another tenant (404), a missing reason (400 naming it), appending nothing', async () => {
      const id = await submit(member);
      await toWaiting('@types/ms@0.7.34');
      const before = await eventCount();
      for (const action of ['approve', 'reject']) {
        const path = `/v1/package-requests/${id}/${action}`;
        const low = await call(member, path, { json: { reason: 'x' } });
        expect(low.status).toBe(403);
        const other = await call(outsider, path, { json: { reason: 'x' } });
        expect(other.status).toBe(404);
        expect(other.type).toContain('application/problem+json');
        const bad = await call(approver, path, { json: { reason: ' ' } });
        expect(bad.status).toBe(400);
        expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('reason');
        expect(
          (
            await call(approver, `/v1/package-requests/${crypto.randomUUID()}/${action}`, {
              json: { reason: 'x' },
            })
          ).status,
        ).toBe(404);
        expect(
          (await call(approver, `/v1/package-requests/not-a-uuid/${action}`, { json: { reason: 'x' } }))
            .status,
        ).toBe(400);
      }
      expect(await eventCount()).toBe(before);
    });

    it('lists requests filtered by status, requester and submission time, with keyset paging', async () => {
      await new Promise((r) => setTimeout(r, 5));
      const start = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      const a = await submit(approver);
      const b = await submit(approver);
      const list = async (query: string, user = member) => {
        const res = await call(user, `/v1/package-requests?${query}`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        return res;
      };
      const mine = await list(`requester=${approver.userId}`);
      expect(mine.body.items.map((r: { id: string }) => r.id)).toEqual([b, a]);
      expect(mine.body.items.every((r: { requested_by: string }) => r.requested_by === approver.userId)).toBe(
        true,
      );
      const first = await list(`requester=${approver.userId}&limit=1`);
      expect(first.body.items.map((r: { id: string }) => r.id)).toEqual([b]);
      const second = await list(`requester=${approver.userId}&limit=1&cursor=${first.body.next_cursor}`);
      expect(second.body.items.map((r: { id: string }) => r.id)).toEqual([a]);
      expect(second.body.next_cursor).toBeNull();
      const since = await list(`since=${encodeURIComponent(start)}`);
      expect(since.body.items.map((r: { id: string }) => r.id)).toEqual([b, a]);
      expect(
        (await list(`until=${encodeURIComponent(start)}`)).body.items.map((r: { id: string }) => r.id),
      ).not.toContain(a);
      // Each status the filter answers is the status each listed request shows.
      for (const status of [
        'received',
        'processing',
        'awaiting_approval',
        'completed',
        'completed_with_unsupported',
        'failed',
      ]) {
        const page = await list(`status=${status}&limit=100`);
        for (const item of page.body.items) expect(item.status).toBe(status);
      }
      const all = await list('limit=100');
      const counted = new Map<string, number>();
      for (const item of all.body.items) counted.set(item.status, (counted.get(item.status) ?? 0) + 1);
      for (const [status, n] of counted)
        expect((await list(`status=${status}&limit=100`)).body.items).toHaveLength(n);
      // a and b name the same packages (processed once per tenant), so they share one status.
      const status = mine.body.items[0].status as string;
      const both = await list(`status=${status}&requester=${approver.userId}`);
      expect(both.body.items.map((r: { id: string }) => r.id)).toEqual([b, a]);
      const other = status === 'received' ? 'completed' : 'received';
      expect((await list(`status=${other}&requester=${approver.userId}`)).body.items).toEqual([]);
      for (const [query, field] of [
        ['status=bogus', 'status'],
        ['since=yesterday', 'since'],
        ['until=2026-13-01', 'until'],
        ['requester=', 'requester'],
      ]) {
        const bad = await call(member, `/v1/package-requests?${query}`);
        expect(bad.status).toBe(400);
        expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain(`query.${field}`);
      }
      // Another tenant sees none of them.
      expect((await list(`requester=${approver.userId}`, outsider)).body.items).toEqual([]);
    });

    it('a request whose packages all ended but which names unsupported entries reads completed_with_unsupported', async () => {
      const only = {
        lockfileVersion: 3,
        packages: {
          '': { name: 'app', version: '1.0.0' },
          'node_modules/left-pad': {
            version: '1.3.0',
            resolved: 'git+https://git.example.com/left-pad.git#abc',
          },
        },
      };
      const res = await call(member, '/v1/package-requests', { json: only });
      expect(res.status).toBe(202);
      expect(res.body.packages_total).toBe(0);
      const read = await call(member, `/v1/package-requests/${res.body.id}`);
      expect(read.body.status).toBe('completed_with_unsupported');
      const listed = await call(member, '/v1/package-requests?status=completed_with_unsupported&limit=100');
      expect(listed.body.items.map((r: { id: string }) => r.id)).toContain(res.body.id);
      const completed = await call(member, '/v1/package-requests?status=completed&limit=100');
      expect(completed.body.items.map((r: { id: string }) => r.id)).not.toContain(res.body.id);
    });
  });
}
