import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { load, notFound } from '../../commands/kernel/index.ts';
import { packageRequestsInMonth } from '../../commands/packages/index.ts';
import {
  effectiveLimits,
  type LimitOverrides,
  type Limits,
  type TenantState,
  tenantDecider,
  tenantStreamId,
  updateTenant,
} from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import {
  commandContext,
  commonProblems,
  etagOf,
  IfMatchHeader,
  jsonContent,
  principalOf,
  problemContent,
  validationHook,
} from '../kit/index.ts';
import { ownTenantOnly, requirePermission } from '../middleware/index.ts';

export interface TenantAdminRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  /** False on EventStoreDB: the event log is not in PostgreSQL, so storage stats are null. */
  eventsInDatabase: boolean;
}

const IdParam = z.object({ id: z.uuid() });

/** A limit's name over HTTP, and in the events. */
const limitFields = {
  max_users: 'maxUsers',
  package_requests_per_month: 'packageRequestsPerMonth',
  tool_executions_per_day: 'toolExecutionsPerDay',
  tool_concurrency: 'toolConcurrency',
  workspaces: 'workspaces',
  api_rate_per_minute: 'apiRatePerMinute',
  upload_bytes: 'uploadBytes',
} as const satisfies Record<string, keyof Limits>;

const capped = z.number().int().min(0).max(1_000_000_000).nullable();
const rate = z.number().int().min(1).max(1_000_000);
const LimitsBody = z
  .strictObject({
    max_users: capped.optional(),
    package_requests_per_month: capped.optional(),
    tool_executions_per_day: capped.optional(),
    tool_concurrency: rate.optional(),
    workspaces: capped.optional(),
    api_rate_per_minute: rate.optional(),
    upload_bytes: z
      .number()
      .int()
      .min(0)
      .max(2 ** 50)
      .nullable()
      .optional(),
  })
  .meta({
    description:
      'The tenant’s own limits over its plan’s: a number replaces the plan’s, null is unlimited, an absent field keeps the plan’s. The whole set: `{}` returns to the plan.',
  });
const LimitsView = z
  .object({
    max_users: z.number().int().nullable(),
    package_requests_per_month: z.number().int().nullable(),
    tool_executions_per_day: z.number().int().nullable(),
    tool_concurrency: z.number().int(),
    workspaces: z.number().int().nullable(),
    api_rate_per_minute: z.number().int(),
    upload_bytes: z.number().int().nullable(),
  })
  .meta({ id: 'TenantLimits', description: 'The limits that hold (null: unlimited)' });
const LimitsWritten = z.object({
  tenant_id: z.uuid(),
  plan: z.string(),
  overrides: LimitsBody,
  limits: LimitsView,
  revision: z.number().int(),
  position: z.string(),
});

const viewOf = (limits: Limits): z.infer<typeof LimitsView> => ({
  max_users: limits.maxUsers,
  package_requests_per_month: limits.packageRequestsPerMonth,
  tool_executions_per_day: limits.toolExecutionsPerDay,
  tool_concurrency: limits.toolConcurrency,
  workspaces: limits.workspaces,
  api_rate_per_minute: limits.apiRatePerMinute,
  upload_bytes: limits.uploadBytes,
});

function overridesView(overrides: LimitOverrides): z.infer<typeof LimitsBody> {
  const out: Record<string, number | null> = {};
  for (const [field, name] of Object.entries(limitFields)) {
    const value = overrides[name];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

const Stats = z
  .object({
    tenant_id: z.uuid(),
    users: z
      .number()
      .int()
      .meta({ description: 'Members, active or pending approval (not rejected or removed)' }),
    package_requests_this_month: z
      .number()
      .int()
      .meta({ description: 'Package requests counted this month (UTC) against the limit' }),
    package_requests_reset_at: z.iso.datetime().meta({ description: 'When the month’s count renews' }),
    limits: LimitsView,
    events_stored: z.number().int().nullable().meta({ description: 'null on EventStoreDB' }),
    event_bytes: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'JSON bytes of data + metadata; null on EventStoreDB' }),
  })
  .meta({ id: 'TenantStats' });

export const tenantAdminProblems = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('Missing permission tenant:manage'),
  404: problemContent('No such tenant (or not yours)'),
};

/** The tenant, unless it does not exist or is deleted (404 either way). */
export async function liveTenant(store: EventStore, id: string) {
  const loaded = await load(store, tenantStreamId(id), tenantDecider);
  if (!loaded.state.exists || loaded.state.status === 'deleted') throw notFound('tenant');
  return loaded.state;
}

/** A tenant's own administration: its owner (or the platform superadmin) with `tenant:manage`. */
export const tenantAdminGuard = [ownTenantOnly, requirePermission('tenant:manage')];

/** Storage stats of a tenant (owner or platform superadmin); its custom domains are in `domains.ts`. */
export function tenantAdminRoutes(deps: TenantAdminRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/stats',
      tags: ['Tenants'],
      summary: 'Users, package requests this month and stored events of a tenant',
      middleware: tenantAdminGuard,
      request: { params: IdParam },
      responses: { 200: jsonContent(Stats, 'The figures'), ...tenantAdminProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const tenant = await liveTenant(deps.store, id);
      const [users, events, requests] = await Promise.all([
        countUsers(deps.db, id),
        deps.eventsInDatabase ? eventStorage(deps.db, id) : Promise.resolve(null),
        packageRequestsInMonth(deps.store, id, deps.clock().toISOString()),
      ]);
      return c.json(
        {
          tenant_id: id,
          users,
          package_requests_this_month: requests.used,
          package_requests_reset_at: requests.resetAt,
          limits: viewOf(effectiveLimits(tenant.plan, tenant.limits)),
          events_stored: events?.count ?? null,
          event_bytes: events?.bytes ?? null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}/limits',
      tags: ['Tenants'],
      summary:
        'Set a tenant’s own limits over its plan’s (platform superadmin): every quota check reads them',
      middleware: [requirePermission('platform:manage')] as const,
      request: {
        params: IdParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: LimitsBody } }, required: true },
      },
      responses: {
        200: jsonContent(LimitsWritten, 'The overrides and the limits that now hold'),
        ...tenantAdminProblems,
        403: problemContent('Missing permission platform:manage'),
        412: problemContent('If-Match does not match the current revision'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const limits: LimitOverrides = {};
      for (const [field, name] of Object.entries(limitFields)) {
        const value = body[field as keyof typeof body];
        if (value !== undefined) (limits as Record<string, number | null>)[name] = value;
      }
      const result = await updateTenant(
        deps.store,
        id,
        { type: 'OverrideLimits', limits, by: principalOf(c).userId, at: deps.clock().toISOString() },
        commandContext(c, { tenantId: id }),
      );
      const state: TenantState = result.state;
      c.header('ETag', etagOf(result.revision));
      c.header('X-Position', result.position.toString());
      return c.json(
        {
          tenant_id: id,
          plan: state.plan,
          overrides: overridesView(state.limits),
          limits: viewOf(effectiveLimits(state.plan, state.limits)),
          revision: result.revision,
          position: result.position.toString(),
        },
        200,
      );
    },
  );

  return app;
}

/**
 * Members from the users read model (`user_list`, built by the identity context) when it exists:
 * this module must not fail while that table is absent, so it looks the table and its columns up.
 * Removed and rejected users do not count.
 */
async function countUsers(db: Kysely<Tables>, tenantId: string): Promise<number> {
  const columns = await sql<{ column_name: string }>`
    select column_name from information_schema.columns
    where table_schema = current_schema() and table_name = 'user_list'`.execute(db);
  const names = new Set(columns.rows.map((r) => r.column_name));
  if (!names.has('tenant_id')) return 0;
  const result = names.has('status')
    ? await sql<{ n: string | number }>`
        select count(*) as n from user_list
        where tenant_id = ${tenantId} and status not in ('removed', 'rejected')`.execute(db)
    : await sql<{
        n: string | number;
      }>`select count(*) as n from user_list where tenant_id = ${tenantId}`.execute(db);
  return Number(result.rows[0]?.n ?? 0);
}

/** Events whose metadata names the tenant, and their stored JSON size. */
async function eventStorage(db: Kysely<Tables>, tenantId: string) {
  const result = await sql<{ n: string | number; bytes: string | number }>`
    select count(*) as n,
           coalesce(sum(octet_length(data::text) + octet_length(metadata::text)), 0) as bytes
    from warden_events where tenant_id = ${tenantId}`.execute(db);
  const row = result.rows[0];
  return { count: Number(row?.n ?? 0), bytes: Number(row?.bytes ?? 0) };
}
