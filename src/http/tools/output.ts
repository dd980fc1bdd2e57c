import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { outputText, type ToolOutputTables } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, problemContent, RequestError, readTables, validationHook } from '../kit/index.ts';
import { IdParam, type ToolDeps, toolProblems, visibleExecution } from './scope.ts';

/** `GET /v1/executions/{id}/output`: the whole output as text, or the byte range asked for. */
export function outputRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const output = readTables<ToolOutputTables>(deps.db);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions/{id}/output',
      tags: ['Tools'],
      summary: 'The output as text (stdout and stderr in order); Range: bytes=… for a part',
      request: { params: IdParam },
      responses: {
        200: { description: 'The output', content: { 'text/plain': { schema: z.string() } } },
        206: { description: 'A part of it', content: { 'text/plain': { schema: z.string() } } },
        416: problemContent('The range is outside the output'),
        ...commonProblems,
        ...toolProblems,
      },
    }),
    async (c) => {
      const found = await visibleExecution(deps, c, c.req.valid('param').id);
      const bytes = new TextEncoder().encode(await outputText(output, found.state.executionId));
      c.header('Accept-Ranges', 'bytes');
      const range = c.req.header('range');
      // A byte body (a part may cut a character): typed as the text the schema documents.
      if (!range) return c.body(bytes, 200, { 'content-type': 'text/plain; charset=utf-8' }) as never;
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      let from = m?.[1] ? Number(m[1]) : undefined;
      let to = m?.[2] ? Number(m[2]) : undefined;
      if (m && from === undefined && to !== undefined) {
        from = Math.max(0, bytes.length - to);
        to = bytes.length - 1;
      }
      if (!m || from === undefined || from >= bytes.length || (to !== undefined && to < from)) {
        c.header('Content-Range', `bytes */${bytes.length}`);
        throw new RequestError(416, 'range-not-satisfiable', `the output has ${bytes.length} bytes`);
      }
      const end = Math.min(to ?? bytes.length - 1, bytes.length - 1);
      c.header('Content-Range', `bytes ${from}-${end}/${bytes.length}`);
      return c.body(bytes.slice(from, end + 1), 206, {
        'content-type': 'text/plain; charset=utf-8',
      }) as never;
    },
  );
  return app;
}
