import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { notFound } from '../../commands/kernel/index.ts';
import { agentStreamId } from '../../commands/workspaces/index.ts';
import {
  agentRow,
  runningWorkspaces,
  type WorkspacesReadTables,
} from '../../projections/workspaces/index.ts';
import { AGENT_STATS_RETENTION_MS } from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { jsonContent, readTables, validationHook } from '../kit/index.ts';
import { type WorkspacesDeps, workspacesContext, workspacesProblems } from './context.ts';
import { IdParam } from './schemas.ts';
import {
  AgentStatsBody,
  AgentStatsHistory,
  presentSample,
  presentStats,
  StatsHistoryQuery,
} from './stats-schemas.ts';

/**
 * An agent's resources (`workspaces:view`, operators and up): now (asked of the agent, bounded by
 * WARDEN_AGENT_STATS_TIMEOUT_MS and reused for WARDEN_AGENT_STATS_TTL_MS) and over the last day (the
 * samples the lease holder takes). Another tenant's agent is 404.
 */
export function agentStatsRoutes(deps: WorkspacesDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = readTables<WorkspacesReadTables>(deps.db);

  /**
   * The agent's row, after the read models named have reached the caller's `X-Min-Position` (the
   * stats count running workspaces from the workspace list, so a client that saw its workspace's
   * position sees it counted).
   */
  const ownAgent = async (
    c: Parameters<typeof workspacesContext>[0],
    tenantId: string,
    agentId: string,
    projections: readonly string[] = ['workspaceAgentList'],
  ) => {
    const row = await deps.readModels.readOne(
      c,
      projections,
      { streamId: agentStreamId(agentId), tenantId },
      () => agentRow(db, tenantId, agentId),
    );
    if (!row) throw notFound('agent');
    return row;
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/agents/{id}/stats',
      tags: ['Workspaces'],
      summary: 'CPU, memory, disk and running workspaces of an agent, or why it is unreachable',
      request: { params: IdParam },
      responses: { 200: jsonContent(AgentStatsBody, 'The agent’s statistics'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const row = await ownAgent(c, tenant.id, c.req.valid('param').id, [
        'workspaceAgentList',
        'workspaceList',
      ]);
      const [stats, running] = await Promise.all([
        deps.stats.read({ id: row.id, url: row.url }, performance.now() - c.get('arrivedAt')),
        runningWorkspaces(db, tenant.id),
      ]);
      return c.json(presentStats(row.id, stats, running.get(row.id) ?? 0), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/agents/{id}/stats/history',
      tags: ['Workspaces'],
      summary: 'The agent’s samples of the last day (oldest first), for a sparkline',
      request: { params: IdParam, query: StatsHistoryQuery },
      responses: { 200: jsonContent(AgentStatsHistory, 'Samples'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const row = await ownAgent(c, tenant.id, c.req.valid('param').id);
      const query = c.req.valid('query');
      const earliest = deps.clock().getTime() - AGENT_STATS_RETENTION_MS;
      const since = new Date(Math.max(earliest, query.since ? Date.parse(query.since) : earliest));
      const samples = await deps.samples.history(tenant.id, row.id, since);
      return c.json({ agent_id: row.id, since: since.toISOString(), items: samples.map(presentSample) }, 200);
    },
  );
  return app;
}
