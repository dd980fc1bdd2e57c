import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, tenantStreamId, updateTenant } from '../../src/commands/tenancy/index.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { upcasters } from '../../src/eventstore/upcasters.ts';
import { upcastingStore } from '../../src/eventstore/upcasting.ts';
import { type AuditEntriesTables, auditEntries } from '../../src/projections/audit/audit-entries.ts';
import { auditEntriesAll, auditPage } from '../../src/projections/audit/queries.ts';
import { ProjectionEngine } from '../../src/projections/engine/engine.ts';
import type { Projection } from '../../src/projections/engine/projection.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

let counter = 0;
const slug = () => `audit-${Date.now().toString(36)}-${counter++}`;

for (const kind of databaseKinds) {
  describe(`audit entries read model (${kind.name})`, () => {
    let db: TestDatabase;
    let store: EventStore;
    let engine: ProjectionEngine;
    let read: Kysely<AuditEntriesTables>;
    const actor = crypto.randomUUID();
    let tenantA = '';
    let tenantB = '';

    beforeAll(async () => {
      db = await kind.fresh();
      store = upcastingStore(postgresEventStore(db.database), upcasters);
      engine = new ProjectionEngine({
        database: db.database,
        store,
        projections: [auditEntries as unknown as Projection],
        pollIntervalMs: 10,
      });
      await engine.start();
      read = db.database.db as unknown as Kysely<AuditEntriesTables>;
      const meta = (tenantId: string, n: number) => ({
        metadata: { tenantId, actorId: actor, requestId: `req-${n}`, correlationId: `corr-${n}` },
      });
      const a = await createTenant(
        store,
        { slug: slug(), name: 'A', plan: 'free', at: new Date().toISOString() },
        {
          metadata: { requestId: 'req-0', correlationId: 'corr-0' },
        },
      );
      tenantA = a.state.tenantId;
      const b = await createTenant(
        store,
        { slug: slug(), name: 'B', plan: 'free', at: new Date().toISOString() },
        {
          metadata: { requestId: 'req-b', correlationId: 'corr-b' },
        },
      );
      tenantB = b.state.tenantId;
      for (let i = 1; i <= 5; i++) {
        await updateTenant(
          store,
          tenantA,
          { type: 'UpdateTenant', name: `A${i}`, at: new Date().toISOString() },
          meta(tenantA, i),
        );
      }
      await updateTenant(
        store,
        tenantA,
        { type: 'SuspendTenant', reason: 'unpaid', at: new Date().toISOString() },
        meta(tenantA, 6),
      );
      const last = await updateTenant(
        store,
        tenantB,
        { type: 'UpdateTenant', plan: 'basic', at: new Date().toISOString() },
        {
          metadata: { tenantId: tenantB, requestId: 'req-7' },
        },
      );
      // The last write's own position, not headPosition: on a shared server the head a reader may see
      // lags behind the newest appends while other sessions hold transactions open.
      expect(await engine.waitFor('auditEntries', last.position, 30_000)).toBe(true);
    });
    afterAll(async () => {
      await engine.stop();
      await db.dispose();
    });

    it('records each event with its tenant, actor, request and correlation ids and a summary', async () => {
      const page = await auditPage(read, { tenantId: tenantA }, { order: 'position', limit: 50 });
      // The tenant's own trail starts with its creation (the event carries the tenant it creates).
      expect(page.map((e) => e.type)).toEqual([
        'TenantCreated',
        'TenantRenamed',
        'TenantRenamed',
        'TenantRenamed',
        'TenantRenamed',
        'TenantRenamed',
        'TenantSuspended',
      ]);
      expect(page[0]).toMatchObject({ tenant_id: tenantA, revision: 0, request_id: 'req-0', actor_id: null });
      expect(page[1]).toMatchObject({
        tenant_id: tenantA,
        stream_id: tenantStreamId(tenantA),
        entity_type: 'tenancy.Tenant',
        revision: 1,
        actor_id: actor,
        request_id: 'req-1',
        correlation_id: 'corr-1',
        schema_version: 1,
        summary: 'Tenant renamed to "A1"',
      });
      expect(page.at(-1)?.summary).toBe('Tenant suspended: unpaid');
      // Another tenant's entries never show; all tenants (the superadmin's view) shows both.
      const all = await auditPage(read, { tenantId: null }, { order: 'position', limit: 50 });
      expect(all.some((e) => e.tenant_id === tenantB)).toBe(true);
      expect(all.length).toBe(9);
    });

    it('filters by stream, entity type, actor, event type and time range', async () => {
      const page = (filter: Parameters<typeof auditPage>[1]) =>
        auditPage(read, filter, { order: '-position', limit: 50 });
      expect((await page({ tenantId: null, streamId: tenantStreamId(tenantB) })).map((e) => e.type)).toEqual([
        'TenantPlanChanged',
        'TenantCreated',
      ]);
      expect((await page({ tenantId: tenantA, actorId: actor })).length).toBe(6);
      expect((await page({ tenantId: tenantB, actorId: actor })).length).toBe(0);
      expect((await page({ tenantId: tenantA, eventTypes: ['TenantSuspended'] })).length).toBe(1);
      expect((await page({ tenantId: null, entityType: 'tenancy.Tenant' })).length).toBe(9);
      expect((await page({ tenantId: null, entityType: 'identity.User' })).length).toBe(0);
      const all = await page({ tenantId: null });
      const newest = new Date(all[0]!.recorded_at);
      expect((await page({ tenantId: null, from: new Date(newest.getTime() + 1) })).length).toBe(0);
      expect((await page({ tenantId: null, to: new Date(newest.getTime() + 1) })).length).toBe(9);
      expect((await page({ tenantId: null, to: new Date(0) })).length).toBe(0);
    });

    it('pages by position and exports everything page by page in order', async () => {
      const seen: string[] = [];
      let after: bigint | undefined;
      for (;;) {
        const page = await auditPage(
          read,
          { tenantId: tenantA },
          {
            order: '-position',
            limit: 4,
            ...(after === undefined ? {} : { after }),
          },
        );
        seen.push(...page.map((e) => e.position));
        if (page.length < 4) break;
        after = BigInt(page.at(-1)!.position);
      }
      expect(seen.length).toBe(7);
      expect([...seen].sort((x, y) => (BigInt(x) < BigInt(y) ? 1 : -1))).toEqual(seen);
      const exported: string[] = [];
      for await (const entry of auditEntriesAll(
        read,
        { tenantId: null },
        { order: 'position', pageSize: 2 },
      )) {
        exported.push(entry.position);
      }
      expect(exported.length).toBe(9);
      expect(new Set(exported).size).toBe(9);
    });

    it('a rebuild leaves the same rows', async () => {
      const before = await auditPage(read, { tenantId: null }, { order: 'position', limit: 100 });
      const result = await engine.rebuild('auditEntries');
      expect(result.applied).toBe(9);
      expect(await auditPage(read, { tenantId: null }, { order: 'position', limit: 100 })).toEqual(before);
      // The secondary indexes were built after the bulk load and moved in with the table.
      const { rows } = await sql<{ name: string }>`
        select indexname as name from pg_indexes
        where schemaname = ${db.database.schema} and tablename = 'audit_entries' order by indexname`.execute(
        db.database.db,
      );
      expect(rows.map((r) => r.name)).toEqual([
        'audit_entries_actor',
        'audit_entries_pkey',
        'audit_entries_stream',
        'audit_entries_tenant',
      ]);
    });
  });
}
