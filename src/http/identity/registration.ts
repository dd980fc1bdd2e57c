import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { registerUser } from '../../commands/identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  actingContext,
  commonProblems,
  jsonContent,
  problemContent,
  tenantOf,
  validationHook,
} from '../kit/index.ts';

import { maxUsersOf, RegisterBody, UserWritten, writtenUser } from './user-schemas.ts';
import type { UserRouteDeps } from './users.ts';

/** Self-registration in the request's tenant, as its sign-up policy allows (open, approval, closed). */
export function registrationRoutes(deps: UserRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/auth/register',
      tags: ['Users'],
      summary: 'Register in the tenant (active or pending approval, by its sign-up policy)',
      request: { body: { content: { 'application/json': { schema: RegisterBody } }, required: true } },
      responses: {
        201: jsonContent(UserWritten, 'Registered'),
        ...commonProblems,
        403: problemContent('Sign-up is closed (invitation only)'),
        404: problemContent('Unknown tenant'),
        409: problemContent('Email taken, or the plan’s user limit reached'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const body = c.req.valid('json');
      const result = await registerUser(
        deps.store,
        deps.hasher,
        {
          tenantId: tenant.id,
          ...body,
          role: 'member',
          via: 'signup',
          maxUsers: maxUsersOf(tenant),
          defaultPolicy: deps.defaultSignupPolicy,
          at: now(),
        },
        actingContext(c, tenant.id),
        deps.userIds,
      );
      c.header('Location', `/v1/users/${result.state.userId}`);
      return c.json(writtenUser(c, result.state, result.revision, result.position), 201);
    },
  );

  return app;
}
