import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';
import { type AuthTokenRouteDeps, authTokenRoutes } from './auth-tokens.ts';
import { emailVerificationRoutes } from './email-verification.ts';
import { passwordPageRoutes } from './password-page.ts';

export { linkMail } from './link-mail.ts';

import { type PasswordRouteDeps, passwordRoutes } from './passwords.ts';
import { registrationRoutes } from './registration.ts';
import { signupPolicyRoutes } from './signup-policy.ts';
import { type UserRouteDeps, userRoutes } from './users.ts';

export type IdentityRouteDeps = AuthTokenRouteDeps & UserRouteDeps & PasswordRouteDeps;

/** The identity context: sign-in and tokens (`/v1/auth/…`), passwords, the tenant's users and its sign-up policy. */
export function identityRoutes(deps: IdentityRouteDeps) {
  const app = new OpenAPIHono<AppEnv>();
  app.route('/', authTokenRoutes(deps));
  app.route('/', registrationRoutes(deps));
  app.route('/', passwordRoutes(deps));
  app.route('/', passwordPageRoutes());
  app.route('/', emailVerificationRoutes(deps));
  app.route('/', userRoutes(deps));
  app.route('/', signupPolicyRoutes(deps));
  return app;
}
