import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { loadPolicy, PolicyBody, setPolicy } from '../../commands/packages/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  callerContext,
  commonProblems,
  etagOf,
  IfMatchHeader,
  jsonContent,
  principalOf,
  readTables,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { PolicyView } from './schemas.ts';
import { type DB, type PackageRouteDeps, problems, writeProblems } from './scope.ts';

/** The tenant's package policy: read it, replace it (a new version). */
export function policyRoutes(deps: PackageRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const _db = readTables<DB>(deps.db);
  const now = () => deps.clock().toISOString();

  const policyView = (state: Awaited<ReturnType<typeof loadPolicy>>['state']) => ({
    version: state.version,
    policy: state.policy,
    updated_by: state.updatedBy,
    updated_at: state.updatedAt,
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/policy',
      tags: ['Packages'],
      summary: 'The tenant’s package policy (version 0 is the default)',
      responses: { 200: jsonContent(PolicyView, 'The policy'), ...commonProblems, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const loaded = await loadPolicy(deps.store, tenant.id);
      // The policy's version is its entity tag: version 0 (the default) has no stream yet.
      c.header('ETag', etagOf(loaded.state.version));
      return c.json(policyView(loaded.state), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/policy',
      tags: ['Packages'],
      summary:
        'Replace the package policy (packages:manage: admins and owners, not approvers): a new version; decisions from now on name it',
      request: {
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: PolicyBody } }, required: true },
      },
      responses: { 200: jsonContent(PolicyView, 'The new policy'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const context = callerContext(c, tenant.id);
      const result = await setPolicy(
        deps.store,
        { tenantId: tenant.id, policy: c.req.valid('json'), by: principalOf(c).userId, at: now() },
        // Version n is the stream's revision n - 1.
        context.expectedRevision === undefined
          ? context
          : { ...context, expectedRevision: context.expectedRevision - 1 },
      );
      c.header('ETag', etagOf(result.state.version));
      c.header('X-Position', result.position.toString());
      return c.json(policyView({ ...result.state, tenantId: tenant.id }), 200);
    },
  );

  return app;
}
