import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { notFound } from '../../commands/kernel/index.ts';
import { describeTool, toolCategories } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, validationHook } from '../kit/index.ts';
import { type ToolDeps, toolProblems } from './scope.ts';

const ToolSummary = z
  .object({
    id: z.string(),
    name: z.string(),
    category: z.enum(toolCategories),
    description: z.string(),
    version: z.string(),
    kind: z.enum(['builtin', 'binary']),
    intrusive: z.boolean(),
    permission: z.literal('tools:execute'),
    required_role: z.string().nullable(),
    takes_target: z.boolean(),
    default_timeout_ms: z.number().int(),
    max_timeout_ms: z.number().int(),
    output_cap_bytes: z.number().int(),
    status: z.enum(['available', 'unavailable']),
    unavailable_reason: z.string().nullable(),
  })
  .meta({ id: 'ToolSummary' });
const ToolDetail = ToolSummary.extend({
  parameters_schema: z.record(z.string(), z.unknown()).meta({ description: 'JSON Schema of the parameters' }),
  result_schema: z.record(z.string(), z.unknown()).meta({ description: 'JSON Schema of the result' }),
}).meta({ id: 'Tool' });
const ListQuery = z.strictObject({
  category: z.enum(toolCategories).optional(),
  q: z.string().trim().max(200).optional(),
});

/** The catalog: every tool with its schemas (as JSON Schema), limits and availability here. */
export function catalogRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/tools',
      tags: ['Tools'],
      summary: 'The tool catalog, by category or text',
      request: { query: ListQuery },
      responses: {
        200: jsonContent(z.object({ items: z.array(ToolSummary) }), 'The tools'),
        ...commonProblems,
        ...toolProblems,
      },
    }),
    (c) => {
      const { category, q } = c.req.valid('query');
      const needle = q?.toLowerCase();
      const items = deps.catalog
        .list()
        .filter((e) => !category || e.tool.category === category)
        .filter(
          (e) =>
            !needle ||
            [e.tool.id, e.tool.name, e.tool.description].some((text) => text.toLowerCase().includes(needle)),
        )
        .map((e) => describeTool(e, false));
      return c.json({ items }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/tools/{id}',
      tags: ['Tools'],
      summary: 'One tool, with its parameter and result schemas as JSON Schema',
      request: { params: z.object({ id: z.string().max(60) }) },
      responses: { 200: jsonContent(ToolDetail, 'The tool'), ...commonProblems, ...toolProblems },
    }),
    (c) => {
      const entry = deps.catalog.get(c.req.valid('param').id);
      if (!entry) throw notFound('tool');
      return c.json(describeTool(entry, true) as z.infer<typeof ToolDetail>, 200);
    },
  );
  return app;
}
