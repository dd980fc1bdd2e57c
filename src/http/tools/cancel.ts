import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { sql } from 'kysely';
import { changeExecution } from '../../commands/tools/index.ts';
import { appendFrames, CANCEL_CHANNEL, statusData, type ToolOutputTables } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commandContext,
  commonProblems,
  jsonContent,
  problemContent,
  readTables,
  validationHook,
} from '../kit/index.ts';
import {
  Execution,
  IdParam,
  presentExecution,
  type ToolDeps,
  toolProblems,
  visibleExecution,
} from './scope.ts';

/** Cancelling (`DELETE /v1/executions/{id}` or `POST …/cancel`): a queued run ends here, a running one is told to stop. */
export function cancelRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const output = readTables<ToolOutputTables>(deps.db);

  const cancel = async (c: Context<AppEnv>, id: string) => {
    const found = await visibleExecution(deps, c, id);
    const result = await changeExecution(
      deps.store,
      found.tenant.id,
      found.state.executionId,
      { type: 'CancelExecution', by: found.principal.userId, at: deps.clock().toISOString() },
      commandContext(c, { tenantId: found.tenant.id, actorId: found.principal.userId }),
    );
    if (result.state.status === 'cancelled') {
      // Cancelled while queued: it never starts, and its stream ends here.
      await appendFrames(output, found.state.executionId, [
        { kind: 'status', data: statusData('cancelled', { output_bytes: 0, truncated: false }) },
      ]);
    } else {
      await sql`select pg_notify(${CANCEL_CHANNEL}, current_schema() || ':' || ${found.state.executionId}::text)`.execute(
        deps.db,
      );
    }
    c.header('X-Position', result.position.toString());
    return c.json(presentExecution(result.state, result.revision), 202);
  };
  const cancelRoute = (method: 'delete' | 'post', path: string) =>
    createRoute({
      method,
      path,
      tags: ['Tools'],
      summary: 'Cancel: a queued run never starts; a running one gets SIGTERM, then SIGKILL; output is kept',
      request: { params: IdParam },
      responses: {
        202: jsonContent(Execution, 'Cancelled, or asked to stop'),
        ...commonProblems,
        ...toolProblems,
        409: problemContent('The execution has finished already'),
      },
    });
  app.openapi(cancelRoute('delete', '/v1/executions/{id}'), (c) => cancel(c, c.req.valid('param').id));
  app.openapi(cancelRoute('post', '/v1/executions/{id}/cancel'), (c) => cancel(c, c.req.valid('param').id));
  return app;
}
