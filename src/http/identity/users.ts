import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  changeUser,
  findUser,
  registerUser,
  type SignupPolicy,
  setUsername,
  type UserIds,
  type UserRole,
  type UserStatus,
} from '../../commands/identity/index.ts';
import { forbidden, notFound } from '../../commands/kernel/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { PasswordHasher } from '../../identity/index.ts';
import type { UserListTables } from '../../projections/identity/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import {
  actingContext,
  actsAsOwner,
  commonProblems,
  containsPattern,
  etagOf,
  IfMatchHeader,
  jsonContent,
  keysetAfter,
  pageWithCursor,
  parseSort,
  problemContent,
  signedInUserOf,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';

import {
  AddUserBody,
  ChangeMeBody,
  ChangeUserBody,
  IdParam,
  ListQuery,
  maxUsersOf,
  present,
  User,
  UserWritten,
  writeResponses,
  writtenUser,
} from './user-schemas.ts';

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

/**
 * Users of the request's tenant: the users list, add, approve / reject, change role, remove
 * (self-registration: registration.ts; the sign-up policy: signup-policy.ts).
 */
export function userRoutes(deps: UserRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = deps.db.withTables<UserListTables>();
  const now = () => deps.clock().toISOString();

  app.use('/v1/users', requirePermission('users:read'));
  app.on('POST', '/v1/users', requirePermission('users:manage'));
  app.on('GET', '/v1/users/:id', requirePermission('users:read'));
  app.on(['POST', 'PATCH', 'DELETE'], '/v1/users/:id/*', requirePermission('users:manage'));
  app.on(['PATCH', 'DELETE'], '/v1/users/:id', requirePermission('users:manage'));

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
        select = select.where((eb) =>
          eb.or([eb('name', 'ilike', like), eb('email', 'ilike', like), eb('username_lower', 'ilike', like)]),
        );
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
            username: r.username,
            last_login_at: r.last_login_at === null ? null : new Date(r.last_login_at).toISOString(),
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
      if (body.role === 'owner' && !actsAsOwner(c)) {
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
      return c.json(writtenUser(c, result.state, result.revision, result.position), 201);
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
        return c.json(writtenUser(c, result.state, result.revision, result.position), 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/users/{id}',
      tags: ['Users'],
      summary:
        'Change a user’s role (only an owner grants or takes the owner role) or username (unique in the tenant, any case)',
      request: {
        params: IdParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: ChangeUserBody } }, required: true },
      },
      responses: { 200: jsonContent(UserWritten, 'Changed'), ...writeResponses },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const { role, username } = c.req.valid('json');
      const found = await findUser(deps.store, tenant.id, id);
      if (!found) throw notFound('user');
      // An owner's username is theirs and their peers' to change, as their role is.
      if (found.state.role === 'owner' && !actsAsOwner(c)) {
        throw forbidden('only an owner may change an owner');
      }
      let result =
        role === undefined
          ? undefined
          : await changeUser(
              deps.store,
              tenant.id,
              id,
              { type: 'ChangeRole', role, actorIsOwner: actsAsOwner(c), at: now() },
              actingContext(c, tenant.id),
            );
      if (username !== undefined) {
        result = await setUsername(
          deps.store,
          { tenantId: tenant.id, userId: id, username, at: now() },
          actingContext(c, tenant.id),
          deps.userIds,
        );
      }
      if (!result) throw notFound('user');
      return c.json(writtenUser(c, result.state, result.revision, result.position), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/me',
      tags: ['Auth'],
      summary: 'Set or change the caller’s own username (unique in the tenant without regard to case)',
      security: [{ bearerAuth: [] }],
      request: { body: { content: { 'application/json': { schema: ChangeMeBody } }, required: true } },
      responses: {
        200: jsonContent(UserWritten, 'Changed'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        404: problemContent('The caller is not a user of this tenant (an OAuth client, another tenant)'),
        409: problemContent('The username is taken (rule username_taken)'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const principal = signedInUserOf(c, 'choose your username');
      // A token acts as its own user in its own tenant only (the superadmin's in another tenant is no user there).
      if (principal.tenantId !== tenant.id) throw notFound('user');
      const result = await setUsername(
        deps.store,
        { tenantId: tenant.id, userId: principal.userId, username: c.req.valid('json').username, at: now() },
        actingContext(c, tenant.id),
        deps.userIds,
      );
      return c.json(writtenUser(c, result.state, result.revision, result.position), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/users/{id}',
      tags: ['Users'],
      summary:
        'Remove a user from the tenant (emits UserRemoved; the seat is freed; only an owner removes an owner)',
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
        { type: 'RemoveUser', actorIsOwner: actsAsOwner(c), at: now() },
        actingContext(c, tenant.id),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  return app;
}
