import type { Kysely } from 'kysely';
import { openOrigins, type PersonalDataKeys } from '../../privacy/index.ts';
import type { AuditEntriesTables } from './audit-entries.ts';

/** Opens the request origins sealed with actors' keys; without it they read as `[erased]`. */
export type OriginKeys = Pick<PersonalDataKeys, 'find'> | undefined;

/** Filters of the audit trail. `tenantId: null` means every tenant (the platform superadmin only). */
export interface AuditFilter {
  tenantId: string | null;
  streamId?: string;
  entityType?: string;
  actorId?: string;
  eventTypes?: readonly string[];
  from?: Date;
  to?: Date;
}

export type AuditOrder = 'position' | '-position';

/** One entry as the API shows it. */
export interface AuditEntry {
  position: string;
  event_id: string;
  tenant_id: string | null;
  stream_id: string;
  entity_type: string;
  revision: number;
  type: string;
  schema_version: number;
  actor_id: string | null;
  request_id: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  client_address: string | null;
  user_agent: string | null;
  summary: string;
  recorded_at: string;
}

/**
 * One keyset page of the audit trail after `after` (a position, exclusive) in `order`. Keyset on
 * the global position keeps pages stable while events arrive.
 */
export async function auditPage(
  db: Kysely<AuditEntriesTables>,
  filter: AuditFilter,
  options: { order: AuditOrder; limit: number; after?: bigint; keys?: OriginKeys },
): Promise<AuditEntry[]> {
  let query = db.selectFrom('audit_entries').selectAll();
  if (filter.tenantId !== null) query = query.where('tenant_id', '=', filter.tenantId);
  if (filter.streamId) query = query.where('stream_id', '=', filter.streamId);
  if (filter.entityType) query = query.where('entity_type', '=', filter.entityType);
  if (filter.actorId) query = query.where('actor_id', '=', filter.actorId);
  if (filter.eventTypes && filter.eventTypes.length > 0) {
    query = query.where('event_type', 'in', [...filter.eventTypes]);
  }
  if (filter.from) query = query.where('recorded_at', '>=', filter.from);
  if (filter.to) query = query.where('recorded_at', '<', filter.to);
  const desc = options.order === '-position';
  if (options.after !== undefined) {
    query = query.where('position', desc ? '<' : '>', options.after.toString());
  }
  const rows = await query
    .orderBy('position', desc ? 'desc' : 'asc')
    .limit(options.limit)
    .execute();
  const origins = await openOrigins(
    options.keys,
    rows.map((r) => ({
      eventId: r.event_id,
      sealed:
        r.origin_key === null || r.origin_sealed === null
          ? null
          : { $personal: { key: r.origin_key, sealed: r.origin_sealed } },
      clientAddress: r.client_address,
      userAgent: r.user_agent,
    })),
  );
  return rows.map((r, i) => ({
    position: String(r.position),
    event_id: r.event_id,
    tenant_id: r.tenant_id,
    stream_id: r.stream_id,
    entity_type: r.entity_type,
    revision: Number(r.revision),
    type: r.event_type,
    schema_version: r.schema_version,
    actor_id: r.actor_id,
    request_id: r.request_id,
    correlation_id: r.correlation_id,
    causation_id: r.causation_id,
    client_address: origins[i]!.clientAddress,
    user_agent: origins[i]!.userAgent,
    summary: r.summary,
    recorded_at: new Date(r.recorded_at).toISOString(),
  }));
}

/**
 * Every matching entry, page by page: the export streams these without holding the whole result
 * (one page of `pageSize` rows in memory at a time).
 */
export async function* auditEntriesAll(
  db: Kysely<AuditEntriesTables>,
  filter: AuditFilter,
  options: { order: AuditOrder; pageSize?: number; after?: bigint; keys?: OriginKeys },
): AsyncGenerator<AuditEntry> {
  const pageSize = options.pageSize ?? 1000;
  let after = options.after;
  for (;;) {
    const page = await auditPage(db, filter, {
      order: options.order,
      limit: pageSize,
      keys: options.keys,
      ...(after === undefined ? {} : { after }),
    });
    yield* page;
    if (page.length < pageSize) return;
    after = BigInt(page.at(-1)!.position);
  }
}
