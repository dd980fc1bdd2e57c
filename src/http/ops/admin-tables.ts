import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Tables } from '../../db/tables.ts';
import { readTableActivity, upkeepDue, upkeepPass } from '../../db/upkeep.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, problemContent, validationHook } from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';

const Action = z.enum(['freeze', 'vacuum_analyze', 'vacuum', 'analyze']);

const TableView = z
  .object({
    table: z.string().meta({ description: '`schema.table`: Warden’s own, and the system catalogs' }),
    rows: z
      .number()
      .nullable()
      .meta({ description: 'As the last vacuum or analyze counted them; null before' }),
    dead_rows: z.number().int(),
    inserted_since_vacuum: z.number().int(),
    modified_since_analyze: z.number().int(),
    xid_age: z.number().int(),
    last_vacuum_at: z.iso.datetime().nullable(),
    last_analyze_at: z.iso.datetime().nullable(),
    due: Action.nullable().meta({ description: 'What autovacuum’s rules call for now; null: nothing' }),
  })
  .meta({ id: 'TableUpkeepView' });

const Done = z.object({ table: z.string(), action: Action, ms: z.number() }).meta({ id: 'TableUpkeepDone' });

/**
 * `/v1/admin/tables`: each table's activity since its last vacuum and analyze and what autovacuum's
 * rules call for now, and `/v1/admin/tables/upkeep` to keep them up at once (on PGlite, which runs no
 * autovacuum, `serve` does it every `WARDEN_PGLITE_UPKEEP_MS`; an operator after a bulk import need
 * not wait). Platform superadmin only: the tables are every tenant's.
 */
export function adminTableRoutes(deps: { db: Kysely<Tables> }) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use('/v1/admin/tables', requirePermission('platform:manage'));
  app.use('/v1/admin/tables/*', requirePermission('platform:manage'));
  const forbidden = {
    ...commonProblems,
    401: problemContent('No valid access token'),
    403: problemContent('Platform superadmin only'),
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/admin/tables',
      tags: ['Operations'],
      summary:
        'Each table’s dead rows, inserts and changes since its last vacuum and analyze, and what autovacuum’s rules call for now (most dead rows first)',
      responses: { 200: jsonContent(z.object({ items: z.array(TableView) }), 'Tables'), ...forbidden },
    }),
    async (c) => {
      const activity = await readTableActivity(deps);
      return c.json(
        {
          items: activity.map((table) => ({
            table: `${table.schema}.${table.table}`,
            rows: table.estimatedRows < 0 ? null : table.estimatedRows,
            dead_rows: table.deadRows,
            inserted_since_vacuum: table.insertedSinceVacuum,
            modified_since_analyze: table.modifiedSinceAnalyze,
            xid_age: table.xidAge,
            last_vacuum_at: table.lastVacuumAt?.toISOString() ?? null,
            last_analyze_at: table.lastAnalyzeAt?.toISOString() ?? null,
            due: upkeepDue(table) ?? null,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/admin/tables/upkeep',
      tags: ['Operations'],
      summary:
        'Vacuum, analyze or freeze now every table autovacuum’s rules call for (on PGlite each holds the database while it runs); what was done, and how long each took',
      responses: { 200: jsonContent(z.object({ done: z.array(Done) }), 'Done'), ...forbidden },
    }),
    async (c) => {
      const done = await upkeepPass(deps);
      return c.json({ done }, 200);
    },
  );
  return app;
}
