import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { admitSignup, registerUser } from '../../commands/identity/index.ts';
import { isDomainError } from '../../commands/kernel/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  actingContext,
  commonProblems,
  jsonContent,
  problemContent,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import type { LinkMail } from './link-mail.ts';
import { maxUsersOf, RegisterBody } from './user-schemas.ts';
import type { UserRouteDeps } from './users.ts';

const Accepted = z
  .object({
    status: z.literal('accepted'),
    detail: z.string(),
  })
  .meta({ id: 'RegistrationAccepted' });

/**
 * The one answer to an admitted registration, whether the email was new or taken: anything that
 * differed (an id, a Location, a position, a status) would tell a stranger which emails have accounts.
 */
const accepted = {
  status: 'accepted' as const,
  detail:
    'registration received: if this email is new here, its account exists now (and signs in once the ' +
    'link mailed to it is opened, or once an administrator approves it) with this password; if it ' +
    'already has an account, that account is unchanged and keeps its own password',
};

/**
 * Self-registration in the request's tenant, as its sign-up policy allows (open, approval, closed).
 * The answer never depends on whether the email is taken: the policy and the plan's user limit are
 * asked first (neither looks at the email), and an admitted registration is a 202 with one fixed body,
 * for a new email (the account is created) and a taken one (nothing is appended) alike.
 */
export function registrationRoutes(deps: UserRouteDeps & { mail?: LinkMail }) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/auth/register',
      tags: ['Users'],
      summary:
        'Register in the tenant (active or pending approval, by its sign-up policy); the same 202 whether or not the email already has an account',
      request: { body: { content: { 'application/json': { schema: RegisterBody } }, required: true } },
      responses: {
        202: jsonContent(Accepted, 'Received (the same for a new and a taken email)'),
        ...commonProblems,
        403: problemContent('Sign-up is closed (invitation only)'),
        404: problemContent('Unknown tenant'),
        409: problemContent('The plan’s user limit is reached'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const body = c.req.valid('json');
      const maxUsers = maxUsersOf(tenant);
      await admitSignup(deps.store, {
        tenantId: tenant.id,
        maxUsers,
        defaultPolicy: deps.defaultSignupPolicy,
      });
      try {
        const { state } = await registerUser(
          deps.store,
          deps.hasher,
          {
            tenantId: tenant.id,
            ...body,
            role: 'member',
            via: 'signup',
            maxUsers,
            defaultPolicy: deps.defaultSignupPolicy,
            at: now(),
          },
          actingContext(c, tenant.id),
          deps.userIds,
        );
        // An open tenant's new user proves the email through a mailed link, sent after this answer
        // (a taken email sends nothing, so the mail must not hold the answer up either).
        if (!state.emailVerified) {
          await deps.mail?.sendVerificationLink(c, tenant, { id: state.userId, email: state.email });
        }
      } catch (error) {
        // A conflict here is about the email's own stream: taken, or being taken concurrently.
        if (!isDomainError(error) || error.code !== 'CONFLICT') throw error;
        // A new email pays for a password hash: so does a taken one, so time does not tell them apart.
        await deps.hasher.hash(body.password);
      }
      return c.json(accepted, 202);
    },
  );

  return app;
}
