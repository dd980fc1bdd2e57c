import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { NewTargetList, readTargets, setTargets } from '../../commands/tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commandContext, commonProblems, etagOf, jsonContent, validationHook } from '../kit/index.ts';
import { principalOf, type ToolDeps, tenantOf, toolProblems } from './scope.ts';

const Targets = z
  .object({ targets: z.array(z.string()), updated_at: z.string().nullable(), revision: z.number().int() })
  .meta({ id: 'ToolTargets' });
const TargetsBody = z.strictObject({
  targets: NewTargetList.meta({
    description: 'CIDRs (10.0.0.0/8), addresses, host names and *.wildcards; empty refuses every target',
  }),
});

/** The tenant's allowlist of tool targets: empty by default, every other target is refused. */
export function targetRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/tools/targets',
      tags: ['Tools'],
      summary: 'The tenant’s allowlist of tool targets',
      responses: { 200: jsonContent(Targets, 'The allowlist'), ...commonProblems, ...toolProblems },
    }),
    async (c) => {
      const { state, revision } = await readTargets(deps.store, tenantOf(c).id);
      c.header('ETag', etagOf(revision));
      return c.json({ targets: state.targets, updated_at: state.updatedAt, revision }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/tools/targets',
      tags: ['Tools'],
      summary: 'Replace the allowlist (If-Match honoured)',
      request: { body: { content: { 'application/json': { schema: TargetsBody } }, required: true } },
      responses: { 200: jsonContent(Targets, 'The allowlist now'), ...commonProblems, ...toolProblems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const principal = principalOf(c);
      const result = await setTargets(
        deps.store,
        {
          type: 'SetTargets',
          tenantId: tenant.id,
          targets: c.req.valid('json').targets,
          by: principal.userId,
          at: deps.clock().toISOString(),
        },
        commandContext(c, { tenantId: tenant.id, actorId: principal.userId }),
      );
      c.header('ETag', etagOf(result.revision));
      c.header('X-Position', result.position.toString());
      return c.json(
        { targets: result.state.targets, updated_at: result.state.updatedAt, revision: result.revision },
        200,
      );
    },
  );
  return app;
}
