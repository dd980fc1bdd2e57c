import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import {
  Email,
  type PasswordHasher,
  registerUser,
  type UserIds,
  UserName,
} from '../../commands/identity/index.ts';
import {
  createTenant,
  plans,
  SIGNUP_AWAITING_APPROVAL,
  TenantName,
  TenantSlug,
} from '../../commands/tenancy/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { NewPassword, type ResolvedTenant } from '../../identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commandContext,
  commonProblems,
  jsonContent,
  problemContent,
  RequestError,
  validationHook,
} from '../kit/index.ts';

export interface TenantSignupRouteDeps {
  store: EventStore;
  clock: () => Date;
  hasher: PasswordHasher;
  userIds?: UserIds | undefined;
  /** WARDEN_TENANT_SIGNUP: whether strangers may create tenants, and whether the superadmin approves each. */
  tenantSignup: 'closed' | 'open' | 'approval';
  /** Sends the first owner's verification link (the identity context's link mail). */
  mail: {
    sendVerificationLink(
      c: Context<AppEnv>,
      tenant: ResolvedTenant,
      user: { id: string; email: string },
    ): Promise<void>;
  };
}

const SignupBody = z
  .strictObject({
    slug: TenantSlug,
    name: TenantName,
    owner: z.strictObject({ email: Email, name: UserName, password: NewPassword }),
  })
  .meta({ id: 'TenantSignup' });
const SignupAnswer = z
  .object({
    tenant: z.object({ id: z.uuid(), slug: z.string(), plan: z.literal('free') }),
    status: z.enum(['verification_sent', 'awaiting_approval']).meta({
      description:
        '`awaiting_approval` (WARDEN_TENANT_SIGNUP=approval): the tenant exists suspended until the platform superadmin reactivates it (`POST /v1/tenants/{id}/reactivate`; they find it with `GET /v1/tenants?status=suspended`)',
    }),
    detail: z.string(),
  })
  .meta({ id: 'TenantSignupAnswer' });

/**
 * `POST /v1/signup`: self-service tenant sign-up, when the platform allows it (WARDEN_TENANT_SIGNUP;
 * closed by default). Creates the tenant on the free plan and its first owner, whose email must be
 * verified through the mailed link before they can sign in. Anonymous: each client address spends the
 * anonymous rate budget (WARDEN_ANON_RATE_PER_MINUTE), so a flood is 429.
 */
export function tenantSignupRoutes(deps: TenantSignupRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // Before the body is validated: a closed platform answers alike whatever the body names.
  app.use('/v1/signup', async (_c, next) => {
    if (deps.tenantSignup === 'closed') {
      throw new RequestError(
        403,
        'signup-closed',
        'self-service sign-up is closed: ask the platform operator',
      );
    }
    await next();
  });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/signup',
      tags: ['Tenants'],
      summary:
        'Create a tenant (free plan) and its first owner, when the platform allows self-service sign-up',
      request: { body: { content: { 'application/json': { schema: SignupBody } }, required: true } },
      responses: {
        202: jsonContent(SignupAnswer, 'Created: the owner signs in once the mailed link is opened'),
        ...commonProblems,
        403: problemContent('Self-service sign-up is closed on this platform'),
        409: problemContent('The slug is taken'),
        429: problemContent('Too many requests from this address: see Retry-After'),
      },
    }),
    async (c) => {
      // Closed first: a closed platform answers alike whatever the body names.
      if (deps.tenantSignup === 'closed') {
        throw new RequestError(
          403,
          'signup-closed',
          'self-service sign-up is closed: ask the platform operator',
        );
      }
      const body = c.req.valid('json');
      const at = deps.clock().toISOString();
      const awaitingApproval = deps.tenantSignup === 'approval';
      const created = await createTenant(
        deps.store,
        { slug: body.slug, name: body.name, plan: 'free', at, awaitingApproval },
        commandContext(c),
      );
      const tenantId = created.state.tenantId;
      const owner = await registerUser(
        deps.store,
        deps.hasher,
        {
          tenantId,
          email: body.owner.email,
          name: body.owner.name,
          password: body.owner.password,
          role: 'owner',
          // A sign-up into a tenant nobody set a policy for yet, as if it were open: the owner's email
          // is unverified until the link is opened (later registrations follow the tenant's policy).
          via: 'signup',
          maxUsers: plans.free.maxUsers,
          defaultPolicy: 'open',
          at,
        },
        commandContext(c, { tenantId }),
        deps.userIds,
      );
      const tenant: ResolvedTenant = {
        id: tenantId,
        slug: body.slug,
        status: awaitingApproval ? 'suspended' : 'active',
        plan: 'free',
        via: 'path',
      };
      await deps.mail.sendVerificationLink(c, tenant, { id: owner.state.userId, email: owner.state.email });
      c.header('X-Position', owner.position.toString());
      return c.json(
        {
          tenant: { id: tenantId, slug: body.slug, plan: 'free' as const },
          ...(awaitingApproval
            ? {
                status: 'awaiting_approval' as const,
                detail: `the tenant exists, suspended until the platform superadmin approves it (${SIGNUP_AWAITING_APPROVAL}); its owner signs in once the link mailed to them is opened`,
              }
            : {
                status: 'verification_sent' as const,
                detail: 'the tenant exists; its owner signs in once the link mailed to them is opened',
              }),
        },
        202,
      );
    },
  );
  return app;
}
