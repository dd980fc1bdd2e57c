import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  changeUser,
  Email,
  findUser,
  registerUser,
  SignupPolicy,
  setSignupPolicy,
  signupPolicyOf,
  type UserIds,
  UserName,
  UserRole,
  type UserState,
  UserStatus,
} from '../../commands/identity/index.ts';
import { forbidden, notFound } from '../../commands/kernel/errors.ts';
import { PlanId, plans } from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { NewPassword, type PasswordHasher } from '../../identity/passwords.ts';
import type { ResolvedTenant } from '../../identity/principal.ts';
import type { UserListTables } from '../../projections/identity/user-list.ts';
import type { AppEnv } from '../kit/env.ts';
import { commonProblems, IfMatchHeader, jsonContent, problemContent } from '../kit/openapi.ts';
import { containsPattern, keysetAfter, pageWithCursor, parseSort } from '../kit/pagination.ts';
import { etagOf } from '../kit/preconditions.ts';
import type { ReadModels } from '../kit/read-models.ts';
import { actingContext, tenantOf } from '../kit/scope.ts';
import { validationHook } from '../kit/validation.ts';
import { requirePermission } from '../middleware/authorize.ts';

export { verifyCredentials } from '../../commands/identity/index.ts';

export interface UserRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  hasher: PasswordHasher;
  /** Sign-up policy of a tenant that never set one (WARDEN_DEFAULT_SIGNUP_POLICY). */
  defaultSignupPolicy: SignupPolicy;
  /** How user ids follow from emails (default: unkeyed). */
  userIds?: UserIds | undefined;
}

const User = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: UserRole,
    status: UserStatus,
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'User' });
const UserWritten = User.extend({
  position: z.string().meta({ description: 'Send as X-Min-Position to read it back' }),
});

const RegisterBody = z.strictObject({ email: Email, password: NewPassword, name: UserName });
const AddUserBody = z.strictObject({
  email: Email,
  password: NewPassword,
  name: UserName,
  role: UserRole.default('member'),
});
const ChangeRoleBody = z.strictObject({ role: UserRole });
const PolicyBody = z.strictObject({ policy: SignupPolicy });
const IdParam = z.object({ id: z.uuid() });
const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
  role: UserRole.optional(),
  status: UserStatus.optional(),
  q: z.string().trim().min(1).max(100).optional(),
  sort: z.enum(['created_at', '-created_at', 'email', '-email']).default('created_at'),
});

const writeResponses = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('The role lacks the permission'),
  404: problemContent('No such user in this tenant'),
  409: problemContent('Not allowed in the user’s current state'),
  412: problemContent('If-Match does not match the current revision'),
};

function present(state: UserState, revision: number) {
  return {
    id: state.userId,
    email: state.email,
    name: state.name,
    role: state.role,
    status: state.status,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

function maxUsersOf(tenant: ResolvedTenant): number | null {
  const plan = PlanId.safeParse(tenant.plan);
  // An unknown plan gets the smallest limit, never "unlimited".
  return plans[plan.success ? plan.data : 'free'].maxUsers;
}

/**
 * Users of the request's tenant: self-registration (by the tenant's sign-up policy), the users list,
 * approve / reject, change role, remove, and the tenant's sign-up policy.
 */
export function userRoutes(deps: UserRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = deps.db.withTables<UserListTables>();
  const now = () => deps.clock().toISOString();
  const written = (c: Context<AppEnv>, state: UserState, revision: number, position: bigint) => {
    c.header('ETag', etagOf(revision));
    c.header('X-Position', position.toString());
    return { ...present(state, revision), position: position.toString() };
  };

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
      return c.json(written(c, result.state, result.revision, result.position), 201);
    },
  );

  app.use('/v1/users', requirePermission('users:read'));
  app.on('POST', '/v1/users', requirePermission('users:manage'));
  app.on('GET', '/v1/users/:id', requirePermission('users:read'));
  app.on(['POST', 'PATCH', 'DELETE'], '/v1/users/:id/*', requirePermission('users:manage'));
  app.on(['PATCH', 'DELETE'], '/v1/users/:id', requirePermission('users:manage'));
  app.on('GET', '/v1/signup-policy', requirePermission('users:read'));
  app.on('PUT', '/v1/signup-policy', requirePermission('tenant:manage'));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users',
      tags: ['Users'],
      summary: 'List the tenant’s users (search by name or email, filter by role and status)',
      request: { query: ListQuery },
      responses: {
        200: jsonContent(z.object({ items: z.array(User), next_cursor: z.string().nullable() }), 'A page'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('The role lacks the permission'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['userList']);
      const { column, direction } = parseSort<'created_at' | 'email'>(query.sort);
      let select = db.selectFrom('user_list').selectAll().where('tenant_id', '=', tenant.id);
      // Removed and rejected users leave the list unless asked for by status.
      select = query.status
        ? select.where('status', '=', query.status)
        : select.where('status', 'in', ['active', 'pending_approval']);
      if (query.role) select = select.where('role', '=', query.role);
      if (query.q) {
        const like = containsPattern(query.q);
        select = select.where((eb) => eb.or([eb('name', 'ilike', like), eb('email', 'ilike', like)]));
      }
      if (query.cursor) select = select.where(keysetAfter(query.cursor, query.sort));
      const rows = await select
        .orderBy(column, direction)
        .orderBy('id', direction)
        .limit(query.limit + 1)
        .execute();
      const { page, next_cursor } = pageWithCursor(rows, query.limit, query.sort, (r) =>
        column === 'created_at' ? new Date(r.created_at).toISOString() : r.email,
      );
      return c.json(
        {
          items: page.map((r) => ({
            id: r.id,
            email: r.email,
            name: r.name,
            role: r.role as UserRole,
            status: r.status as UserStatus,
            created_at: new Date(r.created_at).toISOString(),
            updated_at: new Date(r.updated_at).toISOString(),
            revision: Number(r.revision),
          })),
          next_cursor,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users',
      tags: ['Users'],
      summary: 'Add a user to the tenant (active at once, whatever the sign-up policy)',
      request: { body: { content: { 'application/json': { schema: AddUserBody } }, required: true } },
      responses: {
        201: jsonContent(UserWritten, 'Added'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('The role lacks the permission (only an owner adds an owner)'),
        409: problemContent('Email taken, or the plan’s user limit reached'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const body = c.req.valid('json');
      const principal = c.get('principal');
      if (body.role === 'owner' && principal?.role !== 'owner' && principal?.platformSuperadmin !== true) {
        throw forbidden('only an owner may grant or take the owner role');
      }
      const result = await registerUser(
        deps.store,
        deps.hasher,
        {
          tenantId: tenant.id,
          ...body,
          via: 'admin',
          maxUsers: maxUsersOf(tenant),
          defaultPolicy: deps.defaultSignupPolicy,
          at: now(),
        },
        actingContext(c, tenant.id),
        deps.userIds,
      );
      c.header('Location', `/v1/users/${result.state.userId}`);
      return c.json(written(c, result.state, result.revision, result.position), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/{id}',
      tags: ['Users'],
      summary: 'Read a user of the tenant (from its events: always current)',
      request: { params: IdParam },
      responses: {
        200: jsonContent(User, 'The user'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('The role lacks the permission'),
        404: problemContent('No such user in this tenant'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const found = await findUser(deps.store, tenant.id, c.req.valid('param').id);
      if (!found) throw notFound('user');
      c.header('ETag', etagOf(found.revision));
      return c.json(present(found.state, found.revision), 200);
    },
  );

  for (const action of ['approve', 'reject'] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/users/{id}/${action}`,
        tags: ['Users'],
        summary:
          action === 'approve' ? 'Approve a user waiting for approval' : 'Reject a user waiting for approval',
        request: { params: IdParam, headers: IfMatchHeader },
        responses: { 200: jsonContent(UserWritten, 'Done'), ...writeResponses },
      }),
      async (c) => {
        const tenant = tenantOf(c);
        const { id } = c.req.valid('param');
        if (!(await findUser(deps.store, tenant.id, id))) throw notFound('user');
        const type = action === 'approve' ? ('ApproveUser' as const) : ('RejectUser' as const);
        const result = await changeUser(
          deps.store,
          tenant.id,
          id,
          { type, at: now() },
          actingContext(c, tenant.id),
        );
        return c.json(written(c, result.state, result.revision, result.position), 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/users/{id}',
      tags: ['Users'],
      summary: 'Change a user’s role (only an owner grants or takes the owner role)',
      request: {
        params: IdParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: ChangeRoleBody } }, required: true },
      },
      responses: { 200: jsonContent(UserWritten, 'Changed'), ...writeResponses },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const { role } = c.req.valid('json');
      if (!(await findUser(deps.store, tenant.id, id))) throw notFound('user');
      const principal = c.get('principal');
      const actorIsOwner = principal?.role === 'owner' || principal?.platformSuperadmin === true;
      const result = await changeUser(
        deps.store,
        tenant.id,
        id,
        { type: 'ChangeRole', role, actorIsOwner, at: now() },
        actingContext(c, tenant.id),
      );
      return c.json(written(c, result.state, result.revision, result.position), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/users/{id}',
      tags: ['Users'],
      summary: 'Remove a user from the tenant (emits UserRemoved; the seat is freed)',
      request: { params: IdParam, headers: IfMatchHeader },
      responses: { 204: { description: 'Removed' }, ...writeResponses },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      if (!(await findUser(deps.store, tenant.id, id))) throw notFound('user');
      const result = await changeUser(
        deps.store,
        tenant.id,
        id,
        { type: 'RemoveUser', at: now() },
        actingContext(c, tenant.id),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

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
