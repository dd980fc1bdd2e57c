import type { Kysely } from 'kysely';
import type { ExecutionListTables } from './execution-list.ts';

export interface ExecutionFilters {
  tenantId: string;
  tool?: string;
  status?: string;
  actor?: string;
  target?: string;
  since?: Date;
  /** Keyset: rows strictly older than this (queued_at, id). */
  before?: { queuedAt: Date; id: string };
  limit: number;
}

/** Executions of a tenant, newest first, with the history's filters. */
export async function listExecutions(db: Kysely<ExecutionListTables>, filters: ExecutionFilters) {
  let query = db.selectFrom('tool_execution_list').selectAll().where('tenant_id', '=', filters.tenantId);
  if (filters.tool) query = query.where('tool_id', '=', filters.tool);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.actor) query = query.where('actor_id', '=', filters.actor);
  if (filters.target) query = query.where('target', '=', filters.target);
  if (filters.since) query = query.where('queued_at', '>=', filters.since);
  if (filters.before) {
    const { queuedAt, id } = filters.before;
    query = query.where((eb) =>
      eb.or([eb('queued_at', '<', queuedAt), eb.and([eb('queued_at', '=', queuedAt), eb('id', '<', id)])]),
    );
  }
  return query
    .orderBy('queued_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filters.limit + 1)
    .execute();
}

/** Executions a tenant queued since `since` that are still queued or running (the concurrency limit). */
export async function activeExecutions(db: Kysely<ExecutionListTables>, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('tool_execution_list')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('status', 'in', ['queued', 'running'])
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
