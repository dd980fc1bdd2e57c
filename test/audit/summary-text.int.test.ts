import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarize } from '../../src/audit/index.ts';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

const event = (type: string, data: unknown): RecordedEvent => ({
  id: randomUUID(),
  streamId: `tenancy.Tenant-${randomUUID()}`,
  revision: 0,
  position: 1n,
  type,
  data,
  metadata: {},
  recordedAt: new Date('2026-01-01T00:00:00Z'),
});

/**
 * Summaries carry free text of every context (names, reasons) into `audit_entries`, one table for
 * every tenant. A NUL or an unpaired surrogate in an event, stored before its context refused it,
 * used to stop the audit projection there.
 */
describe('audit summaries of text PostgreSQL cannot hold', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t.dispose();
  });

  it('drops NUL characters and replaces unpaired surrogates', () => {
    expect(summarize(event('TenantSuspended', { reason: 'un\u0000paid\ud800' }))).toBe(
      'Tenant suspended: unpaid\ufffd',
    );
  });

  it('records such an event and goes on, instead of stopping the trail for every tenant', async () => {
    const owner = await t.user({ role: 'owner' });
    const tenantId = owner.tenantId;
    const stream = `tenancy.Tenant-${tenantId}`;
    const data = { tenantId, reason: 'bad\u0000 reason\udfff', at: new Date().toISOString() };
    const id = randomUUID();
    const { position } = await t.store.append(stream, [
      { id, type: 'TenantSuspended', data, metadata: { tenantId } },
    ]);
    expect(await t.engine.waitFor(['auditEntries'], position, 5000)).toBe(true);
    const rows = await sql<{
      summary: string;
    }>`select summary from audit_entries where event_id = ${id}`.execute(t.database.db);
    expect(rows.rows).toEqual([{ summary: 'Tenant suspended: bad reason\ufffd' }]);
    expect((await t.engine.status()).filter((s) => s.state === 'failed')).toEqual([]);
  });
});
