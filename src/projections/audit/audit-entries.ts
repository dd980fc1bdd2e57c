import { type Kysely, sql } from 'kysely';
import { auditedEventTypes, summarize } from '../../audit/index.ts';
import { entityOf } from '../../commands/registry/index.ts';
import type { RecordedEvent } from '../../eventstore/port.ts';
import { sealedOriginOf } from '../../privacy/index.ts';
import { defineProjection } from '../engine/index.ts';

export interface AuditEntriesTable {
  position: string;
  event_id: string;
  tenant_id: string | null;
  stream_id: string;
  entity_type: string;
  revision: string;
  event_type: string;
  schema_version: number;
  actor_id: string | null;
  request_id: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  client_address: string | null;
  user_agent: string | null;
  summary: string;
  recorded_at: Date;
  /** The request origin sealed with the actor's key (`privacy/origin.ts`): its key id and ciphertext. */
  origin_key: string | null;
  origin_sealed: string | null;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type AuditEntriesTables = {
  audit_entries: AuditEntriesTable;
};

/** The row of one event: who, why, what, and a sentence for people; never the event's data. */
function entryOf(event: RecordedEvent) {
  const m = event.metadata;
  // Sealed, the origin stays sealed here too: the audit opens it when it shows the entry, so an
  // erasure (the key destroyed) takes it out of this table as well, without a write.
  const origin = sealedOriginOf(m);
  return {
    position: event.position.toString(),
    event_id: event.id,
    tenant_id: m.tenantId ?? createdTenant(event),
    stream_id: event.streamId,
    entity_type: entityOf(event.streamId),
    revision: event.revision,
    event_type: event.type,
    schema_version: m.schemaVersion ?? 1,
    actor_id: m.actorId ?? null,
    request_id: m.requestId ?? null,
    correlation_id: m.correlationId ?? null,
    causation_id: m.causationId ?? null,
    client_address: origin ? null : (m.clientAddress ?? null),
    user_agent: origin ? null : (m.userAgent ?? null),
    summary: summarize(event),
    recorded_at: event.recordedAt.toISOString(),
    origin_key: origin?.$personal.key ?? null,
    origin_sealed: origin?.$personal.sealed ?? null,
  };
}

/**
 * A `TenantCreated` stored before creations carried their tenant in the metadata (the platform caller
 * had none): the tenant is the one it creates, named in its data.
 */
function createdTenant(event: RecordedEvent): string | null {
  if (event.type !== 'TenantCreated') return null;
  const tenantId = (event.data as { tenantId?: unknown }).tenantId;
  return typeof tenantId === 'string' ? tenantId : null;
}

/** Rows per insert: one JSON parameter each, so the statement stays small whatever the batch. */
const CHUNK = 5000;

async function insertEntries(
  events: readonly RecordedEvent[],
  db: Kysely<AuditEntriesTables>,
): Promise<void> {
  for (let i = 0; i < events.length; i += CHUNK) {
    const rows = JSON.stringify(events.slice(i, i + CHUNK).map(entryOf));
    // Bare table name: during a rebuild `search_path` points at the shadow schema.
    await sql`
      insert into audit_entries
      select * from json_to_recordset(${rows}::json) as x(
        position bigint, event_id uuid, tenant_id text, stream_id text, entity_type text, revision bigint,
        event_type text, schema_version integer, actor_id text, request_id text, correlation_id text,
        causation_id text, client_address text, user_agent text, summary text, recorded_at timestamptz,
        origin_key text, origin_sealed text)
      on conflict do nothing`.execute(db);
  }
}

/**
 * The audit trail: one row per event of every context, in the global order, with the tenant, the
 * actor, request and correlation ids and a human summary. `GET /v1/audit` and its NDJSON export read it.
 */
/** Every audited type, whatever its context: the rows keep the event's data unread but for the summary. */
type AnyEvent = { type: string; data: unknown };

export const auditEntries = defineProjection<AnyEvent, AuditEntriesTables>()({
  name: 'auditEntries',
  // 2: tracker events audited; secondary indexes built after a rebuild's bulk load.
  // 3: summaries name people by user id, never by email (rebuilt so older rows drop the emails).
  // 4: a TenantCreated without a tenant in its metadata is the created tenant's (rebuilt so it shows).
  // 5: the client address and User-Agent of the request that caused each event.
  // 6: an event with an actor carries them sealed with the actor's key (`origin_key`, `origin_sealed`).
  version: 6,
  types: auditedEventTypes,
  tables: ['audit_entries'],
  // One row per event, from that event alone: a rebuild may write its pages side by side.
  independentPages: true,
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('audit_entries')
      .addColumn('position', 'bigint', (c) => c.primaryKey())
      .addColumn('event_id', 'uuid', (c) => c.notNull())
      .addColumn('tenant_id', 'text')
      .addColumn('stream_id', 'text', (c) => c.notNull())
      .addColumn('entity_type', 'text', (c) => c.notNull())
      .addColumn('revision', 'bigint', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('schema_version', 'integer', (c) => c.notNull())
      .addColumn('actor_id', 'text')
      .addColumn('request_id', 'text')
      .addColumn('correlation_id', 'text')
      .addColumn('causation_id', 'text')
      .addColumn('client_address', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('summary', 'text', (c) => c.notNull())
      .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
      .addColumn('origin_key', 'text')
      .addColumn('origin_sealed', 'text')
      .execute();
  },
  // Newest-first pages per tenant, per stream and per actor; built after a rebuild's bulk load.
  // Event type, entity type and time filters walk the tenant's index: common values match within a page.
  // Side by side: given the pool (a rebuild does), each builds on its own connection and core.
  async createIndexes(db: Kysely<unknown>) {
    const indexes = [
      ['audit_entries_tenant', ['tenant_id', 'position']],
      ['audit_entries_stream', ['stream_id', 'position']],
      ['audit_entries_actor', ['actor_id', 'position']],
    ] as const;
    await Promise.all(
      indexes.map(([name, columns]) =>
        db.schema
          .createIndex(name)
          .on('audit_entries')
          .columns([...columns])
          .execute(),
      ),
    );
  },
  apply: (event, db) => insertEntries([event], db),
  applyBatch: insertEntries,
});
