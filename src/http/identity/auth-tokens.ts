import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import {
  changeUser,
  Email,
  findUser,
  findUserByUsername,
  permissionList,
  permissions,
  tenantRoles,
  type UserIds,
} from '../../commands/identity/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import {
  type CredentialsCheck,
  type LoginThrottlePort,
  NewPassword,
  type PasswordHasher,
} from '../../identity/index.ts';
import type { KeyRing, TokenSessions } from '../../identity/tokens/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commonProblems,
  jsonContent,
  problemContent,
  RequestError,
  requestOrigin,
  validationHook,
} from '../kit/index.ts';
import type { LinkMail } from './link-mail.ts';

export interface AuthTokenRouteDeps {
  keys: KeyRing;
  sessions: TokenSessions;
  verifyCredentials: CredentialsCheck;
  throttle?: LoginThrottlePort;
  /** Where a username sign-in finds its user (and `/v1/me` the caller, without `users`). */
  store: EventStore;
  /** Where `/v1/me` reads the caller: a cache of users' streams kept current by the log. */
  users?: Pick<EventStore, 'readStream'> | undefined;
  userIds?: UserIds | undefined;
  /** The client address for throttling (behind a proxy: from the trusted forwarding header). */
  clientAddress?: (c: Context<AppEnv>) => string | undefined;
  /** Hashes the new password a sign-in chooses when an admin reset the old one (absent: such a sign-in is refused). */
  hasher?: PasswordHasher;
  clock?: () => Date;
  /** Mails a new verification link to an unverified user who signs in with the right password. */
  mail?: LinkMail;
}

const LoginBody = z
  .strictObject({
    email: Email.optional(),
    login: z
      .string()
      .trim()
      .min(1)
      .max(254)
      .optional()
      .meta({ description: 'The email or the username (told apart by the `@`)' }),
    password: z.string().min(1).max(1024),
    new_password: NewPassword.optional().meta({
      description:
        'Only when the answer was `password-change-required` (an admin reset the password): the new password, set as this sign-in succeeds',
    }),
  })
  .refine((b) => (b.email === undefined) !== (b.login === undefined), {
    message: 'give either email or login',
    path: ['login'],
  });
const RefreshBody = z.strictObject({ refresh_token: z.string().min(1).max(200) });
const TokenResponse = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.enum(['Bearer', 'DPoP']),
    expires_in: z.number().int().meta({ description: 'Seconds until the access token expires' }),
    scope: z.string().optional(),
  })
  .meta({ id: 'TokenResponse' });
const Me = z
  .object({
    user_id: z.uuid(),
    tenant: z.object({
      id: z.uuid(),
      slug: z.string().optional(),
      status: z.string().optional(),
      plan: z.string().optional(),
    }),
    role: z.enum(tenantRoles),
    platform_superadmin: z.boolean(),
    email: z.string().nullable().meta({
      description:
        'Null for a caller who is no user of this tenant, and for an OAuth client’s token (its userinfo gives what the scopes allow); so are name and username',
    }),
    name: z.string().nullable(),
    username: z.string().nullable(),
    permissions: z.array(z.enum(permissions)),
    token_expires_at: z.iso.datetime(),
  })
  .meta({ id: 'Me' });
const Jwks = z
  .object({
    keys: z.array(z.looseObject({ kid: z.string(), kty: z.string(), alg: z.string(), use: z.string() })),
  })
  .meta({ id: 'JWKS' });

const unauthorized = problemContent('No valid access token');
const bearer = [{ bearerAuth: [] }];

/** Tokens must not sit in shared caches or browser history (RFC 6749 §5.1). */
function noStore(c: Context<AppEnv>) {
  c.header('Cache-Control', 'no-store');
  c.header('Pragma', 'no-cache');
}

/** Login, refresh, logout, the caller's own view, and the public keys that verify access tokens. */
export function authTokenRoutes(deps: AuthTokenRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/auth/login',
      tags: ['Auth'],
      summary:
        'Sign in with email (or `login`: the email or the username) and password in the resolved tenant',
      request: { body: { content: { 'application/json': { schema: LoginBody } }, required: true } },
      responses: {
        200: jsonContent(TokenResponse, 'Signed in'),
        ...commonProblems,
        401: problemContent('Wrong email or password (the same answer for both)'),
        403: problemContent(
          'The account waits for approval, its email is not verified (`email-not-verified`: a new link is mailed), the tenant is suspended (its owner may still sign in), or an admin reset the password (`password-change-required`: send `new_password`)',
        ),
        409: problemContent('`new_password` was sent but no password change is pending'),
        404: problemContent('No tenant was named (path, X-Tenant, domain or subdomain)'),
        429: problemContent('Too many attempts: see Retry-After'),
      },
    }),
    async (c) => {
      const tenant = c.get('tenant');
      if (!tenant) throw new RequestError(404, 'tenant-not-found', 'sign in within a tenant');
      const body = c.req.valid('json');
      const { password } = body;
      const login = (body.email ?? body.login ?? '').trim();
      // A username signs in as its user's email: one throttle record per account, whichever name was typed.
      // An unknown username goes on as typed (no user has it as email), costing a dummy hash as an unknown email does.
      const email = login.includes('@')
        ? login.toLowerCase()
        : ((await findUserByUsername(deps.store, tenant.id, login, deps.userIds))?.state.email ??
          login.toLowerCase());
      const key = { tenantId: tenant.id, email, address: deps.clientAddress?.(c) };
      if (deps.throttle) {
        const decision = await deps.throttle.checkLogin(key);
        if (!decision.allowed) {
          c.header('Retry-After', String(decision.retryAfterSeconds));
          throw new RequestError(429, 'too-many-attempts', 'too many sign-in attempts; wait and retry');
        }
      }
      let checked = await deps.verifyCredentials(tenant.id, email, password);
      if (!checked.ok && checked.reason === 'password_change_required') {
        // Keycloak's "update password" required action: this password signs in only to choose a new one.
        if (body.new_password === undefined || !deps.hasher) {
          await deps.throttle?.recordSuccess(key);
          await deps.throttle?.recordRefused(key, 'password_change_required');
          throw new RequestError(
            403,
            'password-change-required',
            'an administrator reset this password: sign in again with the same body plus `new_password`',
          );
        }
        const at = (deps.clock?.() ?? new Date()).toISOString();
        await changeUser(
          deps.store,
          tenant.id,
          checked.user.id,
          { type: 'ChangePassword', passwordHash: await deps.hasher.hash(body.new_password), at },
          { metadata: { tenantId: tenant.id, actorId: checked.user.id, requestId: c.get('requestId') } },
        );
        checked = { ok: true, user: checked.user };
      } else if (checked.ok && body.new_password !== undefined) {
        throw new RequestError(
          409,
          'password-change-not-required',
          'no password change is pending: change it with POST /v1/me/password',
        );
      }
      if (!checked.ok && checked.reason === 'email_unverified') {
        await deps.throttle?.recordSuccess(key);
        await deps.throttle?.recordRefused(key, 'email_unverified');
        await deps.mail?.sendVerificationLink(c, tenant, checked.user);
        throw new RequestError(
          403,
          'email-not-verified',
          'the email is not verified yet: a new verification link is on its way to it',
        );
      }
      if (!checked.ok) {
        if (checked.reason === 'not_active') {
          await deps.throttle?.recordSuccess(key);
          await deps.throttle?.recordRefused(key, 'not_active');
          throw new RequestError(403, 'account-not-active', 'the account waits for approval');
        }
        await deps.throttle?.recordFailure(key);
        throw new RequestError(401, 'invalid-credentials', 'wrong email or password');
      }
      // The throttle's reset and the session's writes are independent: sent together, the sign-in
      // waits for the slower of the commits, not for one after the other.
      const cleared = deps.throttle?.recordSuccess(key);
      // Tenant resolution lets login through for a suspended tenant so that its owner can still act.
      if (
        tenant.status === 'suspended' &&
        checked.user.role !== 'owner' &&
        !checked.user.platformSuperadmin
      ) {
        await cleared;
        await deps.throttle?.recordRefused(key, 'tenant_suspended');
        throw new RequestError(403, 'tenant-suspended', `the tenant "${tenant.slug}" is suspended`);
      }
      const [pair] = await Promise.all([
        deps.sessions.start(
          {
            userId: checked.user.id,
            tenantId: tenant.id,
            role: checked.user.role,
            platformSuperadmin: checked.user.platformSuperadmin,
          },
          { requestId: c.get('requestId'), ...requestOrigin(c) },
        ),
        cleared,
      ]);
      noStore(c);
      return c.json(pair, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/auth/refresh',
      tags: ['Auth'],
      summary: 'Exchange a refresh token for a new pair (the old one is used up)',
      description:
        'A used-up refresh token revokes its whole family, except the immediate predecessor of the newest token within the grace window: it gets the pair already issued.',
      request: { body: { content: { 'application/json': { schema: RefreshBody } }, required: true } },
      responses: {
        200: jsonContent(TokenResponse, 'A new pair'),
        ...commonProblems,
        401: problemContent('Unknown, expired, revoked or reused refresh token (a reuse revokes the family)'),
        403: problemContent(
          'The tenant is suspended (its owner and the platform superadmin may still refresh); the refresh token is not used up and works again once the tenant is reactivated',
        ),
      },
    }),
    async (c) => {
      const { refresh_token } = c.req.valid('json');
      const tenant = c.get('tenant');
      const result = await deps.sessions.refresh(refresh_token, tenant?.id, c.get('requestId'));
      if (!result.ok && result.reason === 'tenant_suspended') {
        throw new RequestError(
          403,
          'tenant-suspended',
          tenant ? `the tenant "${tenant.slug}" is suspended` : 'the tenant is suspended',
        );
      }
      if (!result.ok) {
        c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
        throw new RequestError(401, 'invalid-refresh-token', 'the refresh token is not valid; sign in again');
      }
      noStore(c);
      return c.json(result.pair, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/auth/logout',
      tags: ['Auth'],
      summary: 'Sign out: revoke the session and refuse this access token until it expires',
      security: bearer,
      responses: { 204: { description: 'Signed out' }, 401: unauthorized },
    }),
    async (c) => {
      const principal = c.get('principal');
      if (!principal?.sessionId) {
        c.header('WWW-Authenticate', 'Bearer');
        throw new RequestError(
          401,
          'unauthenticated',
          'send a valid access token: Authorization: Bearer <token>',
        );
      }
      await deps.sessions.logout(
        { familyId: principal.sessionId, tokenId: principal.tokenId, expiresAt: principal.tokenExpiresAt },
        c.get('requestId'),
      );
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/me',
      tags: ['Auth'],
      summary: 'The caller: user, tenant, role and effective permissions',
      security: bearer,
      responses: { 200: jsonContent(Me, 'The caller'), 401: unauthorized },
    }),
    async (c) => {
      const principal = c.get('principal');
      if (!principal) {
        c.header('WWW-Authenticate', 'Bearer');
        throw new RequestError(
          401,
          'unauthenticated',
          'send a valid access token: Authorization: Bearer <token>',
        );
      }
      const tenant = c.get('tenant');
      // A client's token shows no personal data here: the user allowed it only the claims its scopes
      // name (`email`, `profile`), which its userinfo answers; here they would come without asking.
      const self = principal.clientId
        ? undefined
        : await findUser(deps.users ?? deps.store, principal.tenantId, principal.userId);
      return c.json(
        {
          user_id: principal.userId,
          email: self?.state.email ?? null,
          name: self?.state.name ?? null,
          username: self?.state.username ?? null,
          tenant:
            tenant && tenant.id === principal.tenantId
              ? { id: tenant.id, slug: tenant.slug, status: tenant.status, plan: tenant.plan }
              : { id: principal.tenantId },
          role: principal.role,
          platform_superadmin: principal.platformSuperadmin,
          permissions: [...permissionList(principal.permissions)],
          token_expires_at: principal.tokenExpiresAt.toISOString(),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/.well-known/jwks.json',
      tags: ['Auth'],
      summary: 'Public keys that verify access tokens: pending, active and recently retired',
      responses: { 200: jsonContent(Jwks, 'JSON Web Key Set') },
    }),
    async (c) => {
      c.header('Cache-Control', `public, max-age=${deps.keys.cacheTtlSeconds}`);
      const { keys } = await deps.keys.jwks();
      return c.json({ keys: keys as z.infer<typeof Jwks>['keys'] }, 200);
    },
  );

  return app;
}
