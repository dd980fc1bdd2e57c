import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { isStorableText, load, notFound, STORABLE_TEXT_MESSAGE } from '../../commands/kernel/index.ts';
import {
  createTenant,
  PlanId,
  TenantName,
  TenantSlug,
  type TenantState,
  TenantStatus,
  tenantDecider,
  tenantStreamId,
  updateTenant,
} from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { TenantListTables } from '../../projections/tenancy/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import {
  actorIdOf,
  commandContext,
  commonProblems,
  containsPattern,
  etagOf,
  IfMatchHeader,
  jsonContent,
  keysetAfter,
  pageWithCursor,
  parseSort,
  problemContent,
  RequestError,
  validationHook,
} from '../kit/index.ts';
import { ownTenantOnly, requirePermission } from '../middleware/index.ts';

export interface TenantRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
}

const Tenant = z
  .object({
    id: z.uuid(),
    slug: z.string(),
    name: z.string(),
    plan: PlanId,
    status: TenantStatus,
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'Tenant' });
const TenantWritten = Tenant.extend({
  position: z.string().meta({ description: 'Send as X-Min-Position to read it back' }),
});

const CreateTenantBody = z.strictObject({ slug: TenantSlug, name: TenantName, plan: PlanId.default('free') });
const UpdateTenantBody = z
  .strictObject({ name: TenantName.optional(), plan: PlanId.optional() })
  .refine((b) => b.name !== undefined || b.plan !== undefined, { message: 'name or plan is required' });
const SuspendBody = z.strictObject({
  reason: z.string().trim().min(1).max(500).refine(isStorableText, STORABLE_TEXT_MESSAGE),
});
const IdParam = z.object({ id: z.uuid() });
const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
  status: TenantStatus.optional(),
  plan: PlanId.optional(),
  q: z.string().trim().min(1).max(100).optional(),
  sort: z.enum(['created_at', '-created_at', 'slug', '-slug']).default('created_at'),
});

const TenantListItem = Tenant.extend({
  users: z.number().int().meta({ description: 'Members holding a seat (active or pending approval)' }),
}).meta({ id: 'TenantListItem' });

const writeResponses = {
  ...commonProblems,
  404: problemContent('No such tenant'),
  412: problemContent('If-Match does not match the current revision'),
};

function present(state: TenantState, revision: number) {
  return {
    id: state.tenantId,
    slug: state.slug,
    name: state.name,
    plan: state.plan,
    status: state.status,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

/** Tenants: create, read, list, rename / change plan, suspend, reactivate, delete (soft). */
export function tenantRoutes(deps: TenantRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = deps.db.withTables<TenantListTables>();
  const now = () => deps.clock().toISOString();

  const written = (
    c: Parameters<typeof validationHook>[1],
    state: TenantState,
    revision: number,
    position: bigint,
  ) => {
    c.header('ETag', etagOf(revision));
    c.header('X-Position', position.toString());
    return { ...present(state, revision), position: position.toString() };
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['Tenants'],
      summary: 'Create a tenant',
      middleware: [requirePermission('platform:manage')] as const,
      request: { body: { content: { 'application/json': { schema: CreateTenantBody } }, required: true } },
      responses: {
        201: jsonContent(TenantWritten, 'Created'),
        ...commonProblems,
        409: problemContent('Slug taken'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const result = await createTenant(
        deps.store,
        { ...body, at: now() },
        commandContext(c, { actorId: actorIdOf(c) }),
      );
      c.header('Location', `/v1/tenants/${result.state.tenantId}`);
      return c.json(written(c, result.state, result.revision, result.position), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['Tenants'],
      summary: 'List tenants',
      middleware: [requirePermission('platform:manage')] as const,
      request: { query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(TenantListItem), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['tenantList']);
      const { column, direction } = parseSort<'created_at' | 'slug'>(query.sort);
      let select = db.selectFrom('tenant_list').selectAll();
      select = query.status
        ? select.where('status', '=', query.status)
        : select.where('status', '!=', 'deleted');
      if (query.plan) select = select.where('plan', '=', query.plan);
      if (query.q) {
        const like = containsPattern(query.q);
        select = select.where((eb) => eb.or([eb('name', 'ilike', like), eb('slug', 'ilike', like)]));
      }
      if (query.cursor) select = select.where(keysetAfter(query.cursor, query.sort));
      const rows = await select
        .orderBy(column, direction)
        .orderBy('id', direction)
        .limit(query.limit + 1)
        .execute();
      const { page, next_cursor } = pageWithCursor(rows, query.limit, query.sort, (r) =>
        column === 'created_at' ? new Date(r.created_at).toISOString() : r.slug,
      );
      return c.json(
        {
          items: page.map((r) => ({
            id: r.id,
            slug: r.slug,
            name: r.name,
            plan: r.plan as PlanId,
            status: r.status as TenantStatus,
            created_at: new Date(r.created_at).toISOString(),
            updated_at: new Date(r.updated_at).toISOString(),
            revision: Number(r.revision),
            users: Number(r.users),
          })),
          next_cursor,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['Tenants'],
      summary: 'Read a tenant (from its events: always current)',
      middleware: [ownTenantOnly, requirePermission('tenant:read')] as const,
      request: { params: IdParam },
      responses: {
        200: jsonContent(Tenant, 'The tenant'),
        ...commonProblems,
        404: problemContent('No such tenant'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const loaded = await load(deps.store, tenantStreamId(id), tenantDecider);
      if (!loaded.state.exists || loaded.state.status === 'deleted') throw notFound('tenant');
      c.header('ETag', etagOf(loaded.revision));
      return c.json(present(loaded.state, loaded.revision), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      tags: ['Tenants'],
      summary: 'Rename a tenant (owner) or change its plan (platform superadmin)',
      middleware: [ownTenantOnly, requirePermission('tenant:manage')] as const,
      request: {
        params: IdParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: UpdateTenantBody } }, required: true },
      },
      responses: { 200: jsonContent(TenantWritten, 'Updated'), ...writeResponses },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      if (body.plan !== undefined && !c.get('principal')?.permissions.has('platform:manage')) {
        throw new RequestError(403, 'forbidden', 'changing the plan needs the permission platform:manage');
      }
      const command = {
        type: 'UpdateTenant' as const,
        at: now(),
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.plan === undefined ? {} : { plan: body.plan }),
      };
      const result = await updateTenant(deps.store, id, command, commandContext(c, { tenantId: id }));
      return c.json(written(c, result.state, result.revision, result.position), 200);
    },
  );

  for (const action of ['suspend', 'reactivate'] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/{id}/${action}`,
        tags: ['Tenants'],
        summary: action === 'suspend' ? 'Suspend a tenant' : 'Reactivate a suspended tenant',
        middleware: [requirePermission('platform:manage')] as const,
        request: {
          params: IdParam,
          headers: IfMatchHeader,
          ...(action === 'suspend'
            ? { body: { content: { 'application/json': { schema: SuspendBody } }, required: true } }
            : {}),
        },
        responses: { 200: jsonContent(TenantWritten, 'Done'), ...writeResponses },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const command =
          action === 'suspend'
            ? {
                type: 'SuspendTenant' as const,
                reason: SuspendBody.parse(await c.req.json()).reason,
                at: now(),
              }
            : { type: 'ReactivateTenant' as const, at: now() };
        const result = await updateTenant(deps.store, id, command, commandContext(c, { tenantId: id }));
        return c.json(written(c, result.state, result.revision, result.position), 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      tags: ['Tenants'],
      summary: 'Delete a tenant (soft: its events are kept, its read models hide it)',
      middleware: [ownTenantOnly, requirePermission('tenant:manage')] as const,
      request: { params: IdParam, headers: IfMatchHeader },
      responses: { 204: { description: 'Deleted' }, ...writeResponses, 409: problemContent('Rule violated') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const result = await updateTenant(
        deps.store,
        id,
        { type: 'DeleteTenant', at: now() },
        commandContext(c, { tenantId: id }),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  return app;
}
