import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { setSignupPolicy, signupPolicyOf } from '../../commands/identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { actingContext, commonProblems, jsonContent, tenantOf, validationHook } from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';

import { PolicyBody } from './user-schemas.ts';
import type { UserRouteDeps } from './users.ts';

/** The tenant's sign-up policy: read it (users:read), set it (tenant:manage). */
export function signupPolicyRoutes(deps: UserRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();

  app.on('GET', '/v1/signup-policy', requirePermission('users:read'));
  app.on('PUT', '/v1/signup-policy', requirePermission('tenant:manage'));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/signup-policy',
      tags: ['Users'],
      summary: 'The tenant’s sign-up policy',
      responses: { 200: jsonContent(PolicyBody, 'The policy'), ...commonProblems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      return c.json({ policy: await signupPolicyOf(deps.store, tenant.id, deps.defaultSignupPolicy) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/signup-policy',
      tags: ['Users'],
      summary: 'Set the tenant’s sign-up policy: open, approval or closed (invitation only)',
      request: { body: { content: { 'application/json': { schema: PolicyBody } }, required: true } },
      responses: { 200: jsonContent(PolicyBody, 'Set'), ...commonProblems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { policy } = c.req.valid('json');
      const result = await setSignupPolicy(
        deps.store,
        { tenantId: tenant.id, policy, at: now() },
        { metadata: actingContext(c, tenant.id).metadata },
      );
      c.header('X-Position', result.position.toString());
      return c.json({ policy }, 200);
    },
  );

  return app;
}
