import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { parseResetToken, verifyEmail } from '../../commands/identity/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { LoginThrottlePort } from '../../identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commandContext,
  commonProblems,
  problemContent,
  RequestError,
  tenantOf,
  validationHook,
} from '../kit/index.ts';

export interface EmailVerificationRouteDeps {
  store: EventStore;
  clock: () => Date;
  throttle?: LoginThrottlePort;
  clientAddress?: (c: Context<AppEnv>) => string | undefined;
}

const VerifyBody = z
  .strictObject({
    token: z
      .string()
      .min(1)
      .max(200)
      .meta({ description: 'The `token` of the verification link (after `#token=`)' }),
  })
  .meta({ id: 'VerifyEmail' });

/**
 * `POST /v1/auth/verify-email`: the link a self-registration in an open tenant mails (and each sign-in
 * of the still unverified user mails anew). Throttled per user and address by the login throttle.
 */
export function emailVerificationRoutes(deps: EmailVerificationRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/auth/verify-email',
      tags: ['Auth'],
      summary: 'Verify your email with the token of the link mailed to you (once, before it expires)',
      request: { body: { content: { 'application/json': { schema: VerifyBody } }, required: true } },
      responses: {
        204: { description: 'Verified: the account signs in now' },
        ...commonProblems,
        404: problemContent('Unknown tenant'),
        409: problemContent('The token is unknown, used, superseded by a newer link, or expired'),
        429: problemContent('Too many attempts: see Retry-After'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { token } = c.req.valid('json');
      const subject = parseResetToken(token)?.userId ?? 'malformed';
      const key = {
        tenantId: tenant.id,
        email: `email-verification:${subject}`,
        address: deps.clientAddress?.(c),
      };
      if (deps.throttle) {
        const decision = await deps.throttle.checkLogin(key);
        if (!decision.allowed) {
          c.header('Retry-After', String(decision.retryAfterSeconds));
          throw new RequestError(429, 'too-many-attempts', 'too many attempts; wait and retry');
        }
      }
      try {
        const result = await verifyEmail(
          deps.store,
          { tenantId: tenant.id, token, at: deps.clock().toISOString() },
          commandContext(c, { tenantId: tenant.id }),
        );
        c.header('X-Position', result.position.toString());
      } catch (error) {
        await deps.throttle?.recordFailure(key);
        throw error;
      }
      await deps.throttle?.recordSuccess(key);
      return c.body(null, 204);
    },
  );
  return app;
}
