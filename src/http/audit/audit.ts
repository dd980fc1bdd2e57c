import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { parseReplayPoint, replayStream } from '../../audit/replay.ts';
import { replaySnapshots, type SnapshotStore } from '../../audit/snapshots.ts';
import { type AggregateRegistry, upcasters } from '../../commands/registry/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { AuditEntriesTables } from '../../projections/audit/audit-entries.ts';
import {
  type AuditFilter,
  type AuditOrder,
  auditEntriesAll,
  auditPage,
} from '../../projections/audit/queries.ts';
import type { AppEnv } from '../kit/env.ts';
import { commonProblems, jsonContent, problemContent } from '../kit/openapi.ts';
import { decodeCursor, encodeCursor } from '../kit/pagination.ts';
import { RequestError } from '../kit/problem.ts';
import type { ReadModels } from '../kit/read-models.ts';
import { validationHook } from '../kit/validation.ts';
import { requirePermission } from '../middleware/authorize.ts';

export interface AuditRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  aggregates: AggregateRegistry;
  /** Replay snapshots (default: in `db`, keyed by Warden's upcasters). */
  snapshots?: SnapshotStore;
}

export const MAX_AUDIT_PAGE = 200;
const NDJSON = 'application/x-ndjson';
const Time = z.iso.datetime({ offset: true });

const Filters = {
  stream: z.string().min(1).max(512).optional().meta({ description: 'Only this stream' }),
  entity_type: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: 'Only this kind of entity, e.g. `identity.User`' }),
  actor: z.string().min(1).max(200).optional().meta({ description: 'Only events caused by this user id' }),
  type: z
    .string()
    .min(1)
    .max(2000)
    .optional()
    .meta({ description: 'Only these event types (comma-separated), e.g. `UserRoleChanged`' }),
  from: Time.optional().meta({ description: 'Recorded at or after this time' }),
  to: Time.optional().meta({ description: 'Recorded before this time' }),
  all_tenants: z
    .enum(['true', 'false'])
    .optional()
    .meta({ description: 'Every tenant’s events (platform superadmin only)' }),
};
const ListQuery = z.strictObject({
  ...Filters,
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(50),
  cursor: z.string().max(500).optional(),
  sort: z.enum(['position', '-position']).default('-position'),
});
const ExportQuery = z.strictObject({
  ...Filters,
  sort: z.enum(['position', '-position']).default('position'),
});

const AuditEntry = z
  .object({
    position: z.string(),
    event_id: z.uuid(),
    tenant_id: z.string().nullable(),
    stream_id: z.string(),
    entity_type: z.string(),
    revision: z.number().int(),
    type: z.string(),
    schema_version: z.number().int(),
    actor_id: z.string().nullable(),
    request_id: z.string().nullable(),
    correlation_id: z.string().nullable(),
    causation_id: z.string().nullable(),
    summary: z.string(),
    recorded_at: z.iso.datetime(),
  })
  .meta({ id: 'AuditEntry' });

const Change = z.object({ path: z.string(), from: z.unknown(), to: z.unknown() }).meta({
  description: 'One changed field; null where it did not exist',
});
const Replay = z
  .object({
    stream_id: z.string(),
    entity_type: z.string(),
    at: z.string().nullable().meta({ description: 'The `at` asked for (null: the latest state)' }),
    revision: z.number().int().meta({ description: 'Last event folded; -1 before the stream existed' }),
    latest_revision: z.number().int(),
    recorded_at: z.iso.datetime().nullable(),
    state: z.unknown(),
    steps: z
      .array(
        z.object({
          revision: z.number().int(),
          position: z.string(),
          type: z.string(),
          recorded_at: z.iso.datetime(),
          actor_id: z.string().nullable(),
          changes: z.array(Change),
        }),
      )
      .optional(),
  })
  .meta({ id: 'Replay' });

const authProblems = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('The role lacks audit:read (or all_tenants without being platform superadmin)'),
};

/**
 * The audit trail and replay: the event history as a product auditors query. Entries come from the
 * `auditEntries` read model; replay folds a stream with its aggregate's own `evolve`.
 */
export function auditRoutes(deps: AuditRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // The audit read model only: its own table type, not the whole database's.
  const db = deps.db as unknown as Kysely<AuditEntriesTables>;
  const snapshots =
    deps.snapshots ??
    replaySnapshots(deps.db as unknown as Kysely<unknown>, { upcasters: upcasters.fingerprint });
  app.use('/v1/audit', requirePermission('audit:read'));
  app.use('/v1/audit/*', requirePermission('audit:read'));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit',
      tags: ['Audit'],
      summary: 'The audit trail of the tenant: filter by stream, entity type, actor, event type and time',
      description: `Newest first by default; \`Accept: ${NDJSON}\` streams every match (as \`/v1/audit/export\`).`,
      request: { query: ListQuery },
      responses: {
        200: {
          description: 'A page (or the NDJSON export when asked for)',
          content: {
            'application/json': {
              schema: z.object({ items: z.array(AuditEntry), next_cursor: z.string().nullable() }),
            },
            [NDJSON]: { schema: AuditEntry },
          },
        },
        ...authProblems,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const filter = filterOf(c, query);
      await deps.readModels.awaitPosition(c, ['auditEntries']);
      if (wantsNdjson(c)) return exportResponse(c, db, filter, query.sort);
      const after = query.cursor ? cursorPosition(query.cursor, query.sort) : undefined;
      const rows = await auditPage(db, filter, {
        order: query.sort,
        limit: query.limit + 1,
        ...(after === undefined ? {} : { after }),
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      const next_cursor =
        rows.length > query.limit && last ? encodeCursor(query.sort, last.position, last.event_id) : null;
      return c.json({ items: page, next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/export',
      tags: ['Audit'],
      summary: 'Every matching audit entry as NDJSON, streamed (oldest first by default)',
      request: { query: ExportQuery },
      responses: {
        200: { description: 'One JSON entry per line', content: { [NDJSON]: { schema: AuditEntry } } },
        ...authProblems,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const filter = filterOf(c, query);
      await deps.readModels.awaitPosition(c, ['auditEntries']);
      return exportResponse(c, db, filter, query.sort);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/audit/streams/{streamId}',
      tags: ['Audit'],
      summary: 'An entity’s state at a point in time or revision, folded from its events',
      request: {
        params: z.object({ streamId: z.string().min(1).max(512) }),
        query: z.strictObject({
          at: z
            .string()
            .max(64)
            .optional()
            .meta({ description: 'A revision (e.g. `3`) or an ISO 8601 time; absent: the latest state' }),
          diff: z
            .enum(['true', 'false'])
            .optional()
            .meta({ description: 'Also list each event folded and what it changed' }),
        }),
      },
      responses: {
        200: jsonContent(Replay, 'The state (the initial state when `at` is before the stream existed)'),
        ...authProblems,
        404: problemContent('No such stream in this tenant, or no aggregate for it'),
      },
    }),
    async (c) => {
      const { streamId } = c.req.valid('param');
      const query = c.req.valid('query');
      const parsed = parseReplayPoint(query.at);
      if (!parsed.ok) {
        throw new RequestError(400, 'validation', `at ${parsed.message}`, [
          { path: 'query.at', message: parsed.message },
        ]);
      }
      const outcome = await replayStream(deps.store, deps.aggregates, streamId, parsed.point, {
        steps: query.diff === 'true',
        snapshots,
      });
      const principal = c.get('principal');
      const tenantId = requestTenant(c);
      // A stream of another tenant looks exactly like an unknown one.
      if (
        !outcome.ok ||
        (!principal?.platformSuperadmin &&
          (outcome.result.tenantId === null || outcome.result.tenantId !== tenantId))
      ) {
        const notAggregate =
          !outcome.ok && outcome.reason === 'not-an-aggregate' && principal?.platformSuperadmin;
        throw new RequestError(
          404,
          'not-found',
          notAggregate
            ? `stream ${streamId} has no aggregate to replay (its events are in /v1/audit?stream=…)`
            : `no stream ${streamId} in this tenant`,
        );
      }
      const r = outcome.result;
      return c.json(
        {
          stream_id: r.streamId,
          entity_type: r.entity,
          at: query.at ?? null,
          revision: r.revision,
          latest_revision: r.latestRevision,
          recorded_at: r.recordedAt,
          state: r.state,
          ...(r.steps
            ? {
                steps: r.steps.map((s) => ({
                  revision: s.revision,
                  position: s.position,
                  type: s.type,
                  recorded_at: s.recordedAt,
                  actor_id: s.actorId,
                  changes: s.changes,
                })),
              }
            : {}),
        },
        200,
      );
    },
  );
  return app;
}

/** The tenant the request acts in: the resolved tenant, else the caller's own. */
function requestTenant(c: Context<AppEnv>): string | null {
  return c.get('tenant')?.id ?? c.get('principal')?.tenantId ?? null;
}

function filterOf(c: Context<AppEnv>, query: z.infer<typeof ExportQuery>): AuditFilter {
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

function cursorPosition(cursor: string, sort: AuditOrder): bigint {
  const { key } = decodeCursor(cursor, sort);
  if (!/^\d{1,19}$/.test(key)) {
    throw new RequestError(400, 'bad-cursor', 'cursor is not one this list handed out', [
      { path: 'query.cursor', message: 'invalid cursor' },
    ]);
  }
  return BigInt(key);
}

function wantsNdjson(c: Context<AppEnv>): boolean {
  return (c.req.header('accept') ?? '').toLowerCase().includes(NDJSON);
}

/**
 * Streams every match as NDJSON: entries are read a page at a time while the client consumes them
 * (the stream pulls the next page only when asked), so the whole result is never held in memory.
 */
function exportResponse(
  c: Context<AppEnv>,
  db: Kysely<AuditEntriesTables>,
  filter: AuditFilter,
  order: AuditOrder,
) {
  const entries = auditEntriesAll(db, filter, { order });
  const encoder = new TextEncoder();
  const logger = c.get('logger');
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
