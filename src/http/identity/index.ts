import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/env.ts';
import { type AuthTokenRouteDeps, authTokenRoutes } from './auth-tokens.ts';
import { type UserRouteDeps, userRoutes } from './users.ts';

export type IdentityRouteDeps = AuthTokenRouteDeps & UserRouteDeps;

/** The identity context: sign-in and tokens (`/v1/auth/…`), the tenant's users and its sign-up policy. */
export function identityRoutes(deps: IdentityRouteDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.route('/', authTokenRoutes(deps));
  app.route('/', userRoutes(deps));
  return app;
}
