import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { parseReplayPoint, replaySnapshots, replayStream, type SnapshotStore } from '../../audit/index.ts';
import type { AggregateRegistry } from '../../commands/registry/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { upcasters } from '../../eventstore/upcasters.ts';
import type { PersonalDataKeys } from '../../privacy/index.ts';
import type { AuditEntriesTables } from '../../projections/audit/index.ts';
import { auditPage } from '../../projections/audit/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import {
  encodeCursor,
  jsonContent,
  problemContent,
  RequestError,
  readTables,
  validationHook,
} from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';
import { cursorPosition, exportResponse, filterOf, requestTenant, wantsNdjson } from './export.ts';
import { AuditEntry, authProblems, ExportQuery, ListQuery, NDJSON, Replay } from './schemas.ts';

export interface AuditRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  aggregates: AggregateRegistry;
  /** Replay snapshots (default: in `db`, keyed by Warden's upcasters). */
  snapshots?: SnapshotStore;
  /** Opens the request origins sealed with actors' keys (absent: they read as erased). */
  personalData?: Pick<PersonalDataKeys, 'find'> | undefined;
}

/**
 * The audit trail and replay: the event history as a product auditors query. Entries come from the
 * `auditEntries` read model; replay folds a stream with its aggregate's own `evolve`.
 */
export function auditRoutes(deps: AuditRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // The audit read model only: its own table type, not the whole database's.
  const db = readTables<AuditEntriesTables>(deps.db);
  const snapshots =
    deps.snapshots ?? replaySnapshots(readTables<unknown>(deps.db), { upcasters: upcasters.fingerprint });
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
      if (wantsNdjson(c)) return exportResponse(c, db, filter, query.sort, deps.personalData);
      const after = query.cursor ? cursorPosition(query.cursor, query.sort) : undefined;
      const rows = await auditPage(db, filter, {
        order: query.sort,
        limit: query.limit + 1,
        ...(after === undefined ? {} : { after }),
        keys: deps.personalData,
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
      return exportResponse(c, db, filter, query.sort, deps.personalData);
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
