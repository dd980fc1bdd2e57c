import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { invalid } from '../../commands/kernel/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, problemContent, validationHook } from '../kit/index.ts';
import { compareResults } from './compare.ts';
import { startExecution, writeProblems } from './request.ts';
import { Execution, IdParam, REDACTED, type ToolDeps, toolProblems, visibleExecution } from './scope.ts';

/** After a run: run it again with the same parameters, or compare the results of two runs. */
export function rerunRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/executions/{id}/rerun',
      tags: ['Tools'],
      summary: 'Run the same tool with the same parameters again (checked again, counted again)',
      request: { params: IdParam },
      responses: {
        202: jsonContent(Execution.extend({ position: z.string() }), 'Queued'),
        ...commonProblems,
        ...toolProblems,
        ...writeProblems,
      },
    }),
    async (c) => {
      const found = await visibleExecution(deps, c, c.req.valid('param').id);
      if (Object.values(found.state.parameters).includes(REDACTED)) {
        throw invalid([
          { path: 'parameters', message: 'secret parameters are not kept: start a new execution' },
        ]);
      }
      return startExecution(
        deps,
        c,
        found.state.toolId,
        found.state.parameters,
        found.state.timeoutMs,
        found.state.executionId,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions/{id}/compare/{other}',
      tags: ['Tools'],
      summary: 'Compare the results of two executions of the same tool (ports, certificate, headers)',
      request: { params: IdParam.extend({ other: z.string().max(60) }) },
      responses: {
        200: jsonContent(z.record(z.string(), z.unknown()), 'The differences'),
        ...commonProblems,
        ...toolProblems,
        422: problemContent('Different tools, or an execution without a result'),
      },
    }),
    async (c) => {
      const params = c.req.valid('param');
      const a = await visibleExecution(deps, c, params.id);
      const b = await visibleExecution(deps, c, params.other);
      if (a.state.toolId !== b.state.toolId) {
        throw invalid([
          {
            path: 'other',
            message: `compares only runs of one tool (${a.state.toolId} ≠ ${b.state.toolId})`,
          },
        ]);
      }
      if (a.state.status !== 'completed' || b.state.status !== 'completed') {
        throw invalid([{ path: 'id', message: 'both executions must have completed with a result' }]);
      }
      return c.json(
        {
          tool: a.state.toolId,
          from: a.state.executionId,
          to: b.state.executionId,
          ...compareResults(a.state.toolId, a.state.result, b.state.result),
        },
        200,
      );
    },
  );
  return app;
}
