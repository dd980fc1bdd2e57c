import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { load, notFound } from '../../commands/kernel/index.ts';
import {
  changeTenantDomain,
  DomainName,
  tenantDecider,
  tenantStreamId,
} from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { TenantDomainTables } from '../../projections/tenancy/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import { commandContext, commonProblems, jsonContent, problemContent, validationHook } from '../kit/index.ts';
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
const DomainParam = z.object({ id: z.uuid(), domain: DomainName });
const AddDomainBody = z.strictObject({ domain: DomainName });
const Domain = z
  .object({ domain: z.string(), tenant_id: z.uuid(), added_at: z.iso.datetime() })
  .meta({ id: 'TenantDomain' });
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
      .nullable()
      .meta({ description: 'null: the packages context does not exist yet' }),
    events_stored: z.number().int().nullable().meta({ description: 'null on EventStoreDB' }),
    event_bytes: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'JSON bytes of data + metadata; null on EventStoreDB' }),
  })
  .meta({ id: 'TenantStats' });

const scopedProblems = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('Missing permission tenant:manage'),
  404: problemContent('No such tenant (or not yours)'),
};

const guard = [ownTenantOnly, requirePermission('tenant:manage')];

/** Custom domains and stats of a tenant (owner or platform superadmin). */
export function tenantAdminRoutes(deps: TenantAdminRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = deps.db.withTables<TenantDomainTables>();
  const now = () => deps.clock().toISOString();

  async function liveTenant(id: string) {
    const loaded = await load(deps.store, tenantStreamId(id), tenantDecider);
    if (!loaded.state.exists || loaded.state.status === 'deleted') throw notFound('tenant');
    return loaded.state;
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/domains',
      tags: ['Tenants'],
      summary: "List a tenant's custom domains",
      middleware: guard,
      request: { params: IdParam },
      responses: { 200: jsonContent(z.object({ items: z.array(Domain) }), 'The domains'), ...scopedProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await liveTenant(id);
      await deps.readModels.awaitPosition(c, ['tenantDomains']);
      const rows = await db
        .selectFrom('tenant_domain')
        .selectAll()
        .where('tenant_id', '=', id)
        .orderBy('domain')
        .limit(1000)
        .execute();
      return c.json(
        {
          items: rows.map((r) => ({
            domain: r.domain,
            tenant_id: r.tenant_id,
            added_at: new Date(r.added_at).toISOString(),
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/domains',
      tags: ['Tenants'],
      summary: 'Serve a tenant on a custom domain (a domain belongs to one tenant at most)',
      middleware: guard,
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: AddDomainBody } }, required: true },
      },
      responses: {
        201: jsonContent(Domain.extend({ position: z.string() }), 'Added'),
        200: jsonContent(Domain.extend({ position: z.string() }), 'The tenant already had it'),
        ...scopedProblems,
        409: problemContent('Another tenant holds the domain'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { domain } = c.req.valid('json');
      await liveTenant(id);
      const at = now();
      const result = await changeTenantDomain(
        deps.store,
        { type: 'AddTenantDomain', tenantId: id, domain, at },
        commandContext(c, { tenantId: id }),
      );
      const added = result.events.length > 0;
      c.header('Location', `/v1/tenants/${id}/domains/${domain}`);
      c.header('X-Position', result.position.toString());
      return c.json(
        { domain, tenant_id: id, added_at: at, position: result.position.toString() },
        added ? 201 : 200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}/domains/{domain}',
      tags: ['Tenants'],
      summary: 'Stop serving a tenant on a custom domain (another tenant may then claim it)',
      middleware: guard,
      request: { params: DomainParam },
      responses: { 204: { description: 'Removed' }, ...scopedProblems },
    }),
    async (c) => {
      const { id, domain } = c.req.valid('param');
      await liveTenant(id);
      const result = await changeTenantDomain(
        deps.store,
        { type: 'RemoveTenantDomain', tenantId: id, domain, at: now() },
        commandContext(c, { tenantId: id }),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/stats',
      tags: ['Tenants'],
      summary: 'Users, package requests this month and stored events of a tenant',
      middleware: guard,
      request: { params: IdParam },
      responses: { 200: jsonContent(Stats, 'The figures'), ...scopedProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await liveTenant(id);
      const [users, events] = await Promise.all([
        countUsers(deps.db, id),
        deps.eventsInDatabase ? eventStorage(deps.db, id) : Promise.resolve(null),
      ]);
      return c.json(
        {
          tenant_id: id,
          users,
          package_requests_this_month: null,
          events_stored: events?.count ?? null,
          event_bytes: events?.bytes ?? null,
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
