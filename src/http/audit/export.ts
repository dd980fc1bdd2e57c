import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { AuditEntriesTables } from '../../projections/audit/index.ts';
import {
  type AuditFilter,
  type AuditOrder,
  auditEntriesAll,
  type OriginKeys,
} from '../../projections/audit/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { decodeCursor, RequestError } from '../kit/index.ts';
import { type ExportQuery, NDJSON } from './schemas.ts';

/** The tenant the request acts in: the resolved tenant, else the caller's own. */
export function requestTenant(c: Context<AppEnv>): string | null {
  return c.get('tenant')?.id ?? c.get('principal')?.tenantId ?? null;
}

export function filterOf(c: Context<AppEnv>, query: z.infer<typeof ExportQuery>): AuditFilter {
  if (query.from && query.to && new Date(query.from) >= new Date(query.to)) {
    throw new RequestError(400, 'validation', 'the time range is empty or reversed', [
      { path: 'query.from', message: 'must be before `to`' },
    ]);
  }
  let tenantId: string | null;
  if (query.all_tenants === 'true') {
    if (!c.get('principal')?.platformSuperadmin) {
      throw new RequestError(403, 'forbidden', 'all_tenants is for the platform superadmin', [
        { path: 'query.all_tenants', message: 'only the platform superadmin reads every tenant' },
      ]);
    }
    tenantId = null;
  } else {
    tenantId = requestTenant(c);
    if (tenantId === null)
      throw new RequestError(404, 'tenant-not-found', 'this route acts in a tenant: name one');
  }
  const types = query.type
    ?.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return {
    tenantId,
    ...(query.stream ? { streamId: query.stream } : {}),
    ...(query.entity_type ? { entityType: query.entity_type } : {}),
    ...(query.actor ? { actorId: query.actor } : {}),
    ...(types && types.length > 0 ? { eventTypes: types } : {}),
    ...(query.from ? { from: new Date(query.from) } : {}),
    ...(query.to ? { to: new Date(query.to) } : {}),
  };
}

const MAX_POSITION = 2n ** 63n - 1n;

export function cursorPosition(cursor: string, sort: AuditOrder): bigint {
  const { key } = decodeCursor(cursor, sort);
  // Positions are PostgreSQL bigints: a larger number is no position this list handed out.
  if (!/^\d{1,19}$/.test(key) || BigInt(key) > MAX_POSITION) {
    throw new RequestError(400, 'bad-cursor', 'cursor is not one this list handed out', [
      { path: 'query.cursor', message: 'invalid cursor' },
    ]);
  }
  return BigInt(key);
}

export function wantsNdjson(c: Context<AppEnv>): boolean {
  return (c.req.header('accept') ?? '').toLowerCase().includes(NDJSON);
}

/**
 * Streams every match as NDJSON: entries are read a page at a time while the client consumes them
 * (the stream pulls the next page only when asked), so the whole result is never held in memory.
 */
export function exportResponse(
  c: Context<AppEnv>,
  db: Kysely<AuditEntriesTables>,
  filter: AuditFilter,
  order: AuditOrder,
  keys: OriginKeys,
) {
  const entries = auditEntriesAll(db, filter, { order, keys });
  const encoder = new TextEncoder();
  const logger = c.get('logger')();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await entries.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(`${JSON.stringify(next.value)}\n`));
      } catch (error) {
        logger.error({ err: error }, 'the audit export failed mid-stream');
        controller.error(error);
      }
    },
    async cancel() {
      await entries.return(undefined);
    },
  });
  const response = c.body(body, 200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
  // OpenAPIHono types JSON bodies only; the route's NDJSON response is described in its definition.
  return response as never;
}
