import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ExecutionStatus } from '../../commands/tools/index.ts';
import { type ExecutionListTables, listExecutions } from '../../projections/tools/index.ts';
import { readFrames, type ToolOutputTables } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commonProblems,
  decodeCursor,
  encodeCursor,
  etagOf,
  jsonContent,
  readTables,
  validationHook,
} from '../kit/index.ts';
import {
  Execution,
  IdParam,
  presentExecution,
  principalOf,
  seesAll,
  type ToolDeps,
  tenantOf,
  toolProblems,
  visibleExecution,
} from './scope.ts';

const ExecutionSummary = z
  .object({
    id: z.uuid(),
    tool: z.string(),
    status: ExecutionStatus,
    actor: z.string(),
    target: z.string().nullable(),
    progress: z.number(),
    exit_code: z.number().int().nullable(),
    rerun_of: z.uuid().nullable(),
    queued_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .meta({ id: 'ExecutionSummary' });
const ListQuery = z.strictObject({
  tool: z.string().max(60).optional(),
  status: ExecutionStatus.optional(),
  actor: z.string().max(200).optional(),
  target: z.string().max(300).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});

/** The execution history (from its read model) and one execution with its output so far. */
export function historyRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const list = readTables<ExecutionListTables>(deps.db);
  const output = readTables<ToolOutputTables>(deps.db);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions',
      tags: ['Tools'],
      summary: 'Execution history, newest first (a member without tools:manage sees their own)',
      request: { query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(ExecutionSummary), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...toolProblems,
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const principal = principalOf(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['toolExecutionList']);
      const own = !seesAll(principal);
      if (own && query.actor && query.actor !== principal.userId)
        return c.json({ items: [], next_cursor: null }, 200);
      const cursor = query.cursor ? decodeCursor(query.cursor, '-queued_at') : undefined;
      const rows = await listExecutions(list, {
        tenantId: tenant.id,
        limit: query.limit,
        ...(query.tool ? { tool: query.tool } : {}),
        ...(query.status ? { status: query.status } : {}),
        ...(own ? { actor: principal.userId } : query.actor ? { actor: query.actor } : {}),
        ...(query.target ? { target: query.target } : {}),
        ...(query.since ? { since: new Date(query.since) } : {}),
        ...(cursor ? { before: { queuedAt: new Date(cursor.key), id: cursor.id } } : {}),
      });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
      return c.json(
        {
          items: page.map((r) => ({
            id: r.id,
            tool: r.tool_id,
            status: r.status as ExecutionStatus,
            actor: r.actor_id,
            target: r.target,
            progress: Number(r.progress),
            exit_code: r.exit_code,
            rerun_of: r.rerun_of,
            queued_at: iso(r.queued_at)!,
            started_at: iso(r.started_at),
            finished_at: iso(r.finished_at),
          })),
          next_cursor:
            rows.length > query.limit && last
              ? encodeCursor('-queued_at', new Date(last.queued_at).toISOString(), last.id)
              : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions/{id}',
      tags: ['Tools'],
      summary: 'One execution: status, progress, exit code, duration, result and its output so far',
      request: { params: IdParam },
      responses: {
        200: jsonContent(Execution.extend({ output: z.string() }), 'The execution'),
        ...commonProblems,
        ...toolProblems,
      },
    }),
    async (c) => {
      const found = await visibleExecution(deps, c, c.req.valid('param').id);
      const frames = await readFrames(output, found.state.executionId, 0, 100);
      const text = frames
        .filter((f) => f.kind === 'stdout' || f.kind === 'stderr')
        .map((f) => f.data)
        .join('');
      c.header('ETag', etagOf(found.revision));
      return c.json({ ...presentExecution(found.state, found.revision), output: text }, 200);
    },
  );
  return app;
}
