import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import {
  changeOwnPassword,
  findUser,
  findUserByEmail,
  findUserByUsername,
  parseResetToken,
  requestPasswordReset,
  resetPasswordWithToken,
  setTemporaryPassword,
  type UserIds,
} from '../../commands/identity/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { type LoginThrottlePort, NewPassword, type PasswordHasher } from '../../identity/index.ts';
import type { TokenSessions } from '../../identity/tokens/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  actsAsOwner,
  callerContext,
  commandContext,
  commonProblems,
  jsonContent,
  principalOf,
  problemContent,
  RequestError,
  signedInUserOf,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';
import { type LinkMail, logLinkFailure } from './link-mail.ts';
import { IdParam } from './user-schemas.ts';

export interface PasswordRouteDeps {
  store: EventStore;
  hasher: PasswordHasher;
  sessions: TokenSessions;
  clock: () => Date;
  throttle?: LoginThrottlePort;
  clientAddress?: (c: Context<AppEnv>) => string | undefined;
  userIds?: UserIds | undefined;
  /** Sends reset links through the notifier. */
  mail: LinkMail;
  /** How long a reset link works (WARDEN_PASSWORD_RESET_TTL_MINUTES). */
  resetTtlSeconds: number;
}

const ChangePasswordBody = z
  .strictObject({
    current_password: z.string().min(1).max(1024),
    new_password: NewPassword,
  })
  .meta({ id: 'ChangePassword' });
const ForgotBody = z
  .strictObject({
    login: z.string().trim().min(1).max(254).meta({ description: 'The email or the username' }),
  })
  .meta({ id: 'ForgotPassword' });
const ResetBody = z
  .strictObject({
    token: z
      .string()
      .min(1)
      .max(200)
      .meta({ description: 'The `token` of the reset link (after `#token=`)' }),
    password: NewPassword,
  })
  .meta({ id: 'ResetPassword' });
const AdminResetBody = z
  .strictObject({
    delivery: z.enum(['temporary_password', 'email']).meta({
      description:
        '`temporary_password`: answered once, here; `email`: a reset link sent to the user. Either way the user must choose a new password at their next sign-in',
    }),
  })
  .meta({ id: 'AdminPasswordReset' });
const AdminResetAnswer = z
  .object({
    delivery: z.enum(['temporary_password', 'email']),
    temporary_password: z.string().optional().meta({ description: 'Shown this once; never stored in clear' }),
    expires_at: z.iso.datetime().optional().meta({ description: 'When the emailed link stops working' }),
    sessions_revoked: z.number().int(),
  })
  .meta({ id: 'AdminPasswordResetAnswer' });
const Accepted = z
  .object({ status: z.literal('accepted'), detail: z.string() })
  .meta({ id: 'ForgotAccepted' });

/** The one answer to a forgot-password request, for a known and an unknown login alike. */
const accepted = {
  status: 'accepted' as const,
  detail: 'if this login has an active account here, a reset link is on its way to its email',
};

/**
 * Passwords: change your own, forgot / reset through a single-use link sent by the notifier, and an
 * admin's reset (temporary password or link). Each is throttled by the login throttle.
 */
export function passwordRoutes(deps: PasswordRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();

  const throttled = async (c: Context<AppEnv>, key: { tenantId: string; email: string }) => {
    const full = { ...key, address: deps.clientAddress?.(c) };
    if (deps.throttle) {
      const decision = await deps.throttle.checkLogin(full);
      if (!decision.allowed) {
        c.header('Retry-After', String(decision.retryAfterSeconds));
        throw new RequestError(429, 'too-many-attempts', 'too many attempts; wait and retry');
      }
    }
    return full;
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/me/password',
      tags: ['Auth'],
      summary: 'Change your own password (the current one required); every other sign-in of yours ends',
      security: [{ bearerAuth: [] }],
      request: {
        body: { content: { 'application/json': { schema: ChangePasswordBody } }, required: true },
      },
      responses: {
        204: { description: 'Changed; this sign-in stays, the others (and OAuth grants) are revoked' },
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('Wrong current password, or a token an OAuth client holds'),
        429: problemContent('Too many attempts: see Retry-After'),
      },
    }),
    async (c) => {
      const principal = signedInUserOf(c, 'change your password');
      const body = c.req.valid('json');
      const { tenantId, userId } = principal;
      const self = await findUser(deps.store, tenantId, userId);
      if (!self) throw new RequestError(403, 'forbidden', 'the caller is no user of this tenant');
      const key = await throttled(c, { tenantId, email: self.state.email });
      const changed = await changeOwnPassword(
        deps.store,
        deps.hasher,
        {
          tenantId,
          userId,
          currentPassword: body.current_password,
          newPassword: body.new_password,
          at: now(),
        },
        callerContext(c, tenantId, { ifMatch: false }),
      );
      if (!changed.ok) {
        await deps.throttle?.recordFailure(key);
        throw new RequestError(403, 'wrong-password', 'the current password is wrong', [
          { path: 'current_password', message: 'is not the current password' },
        ]);
      }
      await deps.throttle?.recordSuccess(key);
      await deps.sessions.revokeUser(
        { tenantId, userId, keep: principal.sessionId },
        'password_changed',
        c.get('requestId'),
      );
      c.header('X-Position', changed.result.position.toString());
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/password/forgot',
      tags: ['Auth'],
      summary: 'Ask for a password reset link (always 202: the answer never says whether the login exists)',
      request: { body: { content: { 'application/json': { schema: ForgotBody } }, required: true } },
      responses: {
        202: jsonContent(Accepted, 'Received (the same for every login)'),
        ...commonProblems,
        404: problemContent('Unknown tenant'),
        429: problemContent('Too many attempts for this login or from this address: see Retry-After'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { login } = c.req.valid('json');
      const typed = login.toLowerCase();
      const byUsername = login.includes('@')
        ? undefined
        : await findUserByUsername(deps.store, tenant.id, login, deps.userIds);
      // A budget of its own per login: sharing sign-in's would let anyone who knows an email lock its
      // owner out of signing in by asking for links, and failed sign-ins would block the reset.
      await throttled(c, {
        tenantId: tenant.id,
        email: `password-forgot:${byUsername?.state.email ?? typed}`,
      });
      const logger = c.get('logger')();
      const base = deps.mail.base(c, tenant);
      const context = commandContext(c, { tenantId: tenant.id });
      // The answer goes out now; the lookup, the event and the mail follow, so the time to answer
      // does not depend on whether there was anyone to write to.
      void (async () => {
        const found =
          byUsername ??
          (login.includes('@')
            ? await findUserByEmail(deps.store, tenant.id, typed, deps.userIds)
            : undefined);
        if (found?.state.status !== 'active') return;
        const { token } = await requestPasswordReset(
          deps.store,
          {
            tenantId: tenant.id,
            userId: found.userId,
            by: found.userId,
            forced: false,
            actorIsOwner: true,
            ttlSeconds: deps.resetTtlSeconds,
            at: now(),
          },
          { metadata: { ...context.metadata, actorId: found.userId } },
        );
        await deps.mail.sendReset(base, tenant, found.state.email, token);
      })().catch((error: unknown) => logLinkFailure(logger, 'password reset', error));
      return c.json(accepted, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/password/reset',
      tags: ['Auth'],
      summary:
        'Choose a new password with a reset link’s token (once, before it expires); every sign-in ends',
      request: { body: { content: { 'application/json': { schema: ResetBody } }, required: true } },
      responses: {
        204: { description: 'The password is set; sign in with it' },
        ...commonProblems,
        404: problemContent('Unknown tenant'),
        409: problemContent('The token is unknown, used, superseded by a newer link, or expired'),
        429: problemContent('Too many attempts: see Retry-After'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const body = c.req.valid('json');
      const subject = parseResetToken(body.token)?.userId ?? 'malformed';
      const key = await throttled(c, { tenantId: tenant.id, email: `password-reset:${subject}` });
      let result: Awaited<ReturnType<typeof resetPasswordWithToken>>;
      try {
        result = await resetPasswordWithToken(
          deps.store,
          deps.hasher,
          { tenantId: tenant.id, token: body.token, newPassword: body.password, at: now() },
          commandContext(c, { tenantId: tenant.id }),
        );
      } catch (error) {
        await deps.throttle?.recordFailure(key);
        throw error;
      }
      await deps.throttle?.recordSuccess(key);
      await deps.sessions.revokeUser(
        { tenantId: tenant.id, userId: result.state.userId },
        'password_changed',
        c.get('requestId'),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  app.on('POST', '/v1/users/:id/password-reset', requirePermission('users:manage'));
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users/{id}/password-reset',
      tags: ['Users'],
      summary:
        'Reset a user’s password: a temporary one (answered once) or a reset link by mail; they must choose a new one at next sign-in, and every sign-in of theirs ends',
      security: [{ bearerAuth: [] }],
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: AdminResetBody } }, required: true },
      },
      responses: {
        200: jsonContent(AdminResetAnswer, 'Reset'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('The role lacks `users:manage`, or the user is an owner and the caller is not'),
        404: problemContent('No such user in this tenant'),
        409: problemContent('The user is not active'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const { delivery } = c.req.valid('json');
      const principal = principalOf(c);
      const context = callerContext(c, tenant.id, { ifMatch: false });
      const input = {
        tenantId: tenant.id,
        userId: id,
        by: principal.userId,
        actorIsOwner: actsAsOwner(c),
        at: now(),
      };
      let answer: z.infer<typeof AdminResetAnswer>;
      let position: bigint;
      if (delivery === 'temporary_password') {
        const { password, result } = await setTemporaryPassword(deps.store, deps.hasher, input, context);
        answer = { delivery, temporary_password: password, sessions_revoked: 0 };
        position = result.position;
      } else {
        const reset = await requestPasswordReset(
          deps.store,
          { ...input, forced: true, ttlSeconds: deps.resetTtlSeconds },
          context,
        );
        await deps.mail.sendReset(deps.mail.base(c, tenant), tenant, reset.result.state.email, reset.token);
        answer = { delivery, expires_at: reset.expiresAt, sessions_revoked: 0 };
        position = reset.result.position;
      }
      answer.sessions_revoked = await deps.sessions.revokeUser(
        { tenantId: tenant.id, userId: id },
        'password_changed',
        c.get('requestId'),
      );
      c.header('Cache-Control', 'no-store');
      c.header('X-Position', position.toString());
      return c.json(answer, 200);
    },
  );

  return app;
}
