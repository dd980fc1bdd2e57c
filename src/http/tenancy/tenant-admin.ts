import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { load, notFound } from '../../commands/kernel/index.ts';
import { tenantDecider, tenantStreamId } from '../../commands/tenancy/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import { commonProblems, jsonContent, problemContent, validationHook } from '../kit/index.ts';
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
      await liveTenant(deps.store, id);
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
