import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { invalid, notFound } from '../../commands/kernel/index.ts';
import { agentStreamId, deregisterAgent, registerAgent } from '../../commands/workspaces/index.ts';
import {
  agentRow,
  agentUsage,
  listAgents,
  runningWorkspaces,
  type WorkspaceAgentTable,
  type WorkspacesReadTables,
} from '../../projections/workspaces/index.ts';
import { AgentCallError, enrolAgent } from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commonProblems,
  jsonContent,
  problemContent,
  RequestError,
  readTables,
  validationHook,
} from '../kit/index.ts';
import { type WorkspacesDeps, workspacesContext, workspacesProblems } from './context.ts';
import { Agent, IdParam, RegisterAgentBody } from './schemas.ts';
import { AgentListQuery, AgentWithStats, presentStats } from './stats-schemas.ts';

type Usage = { cpus: number; memoryMb: number; workspaces: number };

function presentAgent(row: WorkspaceAgentTable, used: Usage | undefined, lastSeen?: Date) {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    labels: row.labels,
    capacity: { cpus: row.cpus, memory_mb: row.memory_mb, workspaces: row.max_workspaces },
    used: { cpus: used?.cpus ?? 0, memory_mb: used?.memoryMb ?? 0, workspaces: used?.workspaces ?? 0 },
    state: 'active' as const,
    registered_at: new Date(row.registered_at).toISOString(),
    last_heartbeat_at: lastSeen?.toISOString() ?? null,
  };
}

/** Agents of the tenant (`workspaces:manage`): register (enrolling the agent), list, read, deregister. */
export function agentRoutes(deps: WorkspacesDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = readTables<WorkspacesReadTables>(deps.db);
  const tenantId = (c: Context<AppEnv>) => workspacesContext(c).tenant.id;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/agents',
      tags: ['Workspaces'],
      summary: 'Register an agent: Warden exchanges its enrolment token for the key that signs every call',
      request: { body: { content: { 'application/json': { schema: RegisterAgentBody } }, required: true } },
      responses: {
        201: jsonContent(Agent, 'Registered'),
        ...commonProblems,
        ...workspacesProblems,
        422: problemContent('The agent cannot be reached or refused the enrolment token'),
      },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const body = c.req.valid('json');
      let key: string;
      try {
        key = (await enrolAgent(body.url, body.enrolment_token)).key;
      } catch (error) {
        const why =
          error instanceof AgentCallError
            ? `the agent at ${body.url} refused the enrolment (${error.status}: ${error.message})`
            : `the agent at ${body.url} cannot be reached`;
        throw invalid([{ path: 'url', message: why }]);
      }
      const agentId = crypto.randomUUID();
      await deps.keys.put(tenant.id, agentId, key);
      const result = await registerAgent(
        deps.store,
        {
          agentId,
          tenantId: tenant.id,
          name: body.name,
          url: body.url,
          labels: body.labels,
          capacity: {
            cpus: body.capacity.cpus,
            memoryMb: body.capacity.memory_mb,
            workspaces: body.capacity.workspaces,
          },
          at: deps.clock().toISOString(),
          by: actor.userId,
        },
        context,
      );
      c.header('Location', `/v1/agents/${agentId}`);
      c.header('X-Position', result.position.toString());
      const s = result.state;
      return c.json(
        presentAgent(
          {
            id: s.agentId,
            tenant_id: s.tenantId,
            name: s.name,
            url: s.url,
            labels: s.labels,
            cpus: s.capacity.cpus,
            memory_mb: s.capacity.memoryMb,
            max_workspaces: s.capacity.workspaces,
            registered_at: new Date(s.registeredAt),
            revision: result.revision,
            position: result.position.toString(),
          },
          undefined,
        ),
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/agents',
      tags: ['Workspaces'],
      summary:
        'The tenant’s agents with their capacity and what is in use (`?with=stats`: and each agent’s statistics)',
      request: { query: AgentListQuery },
      responses: {
        200: jsonContent(z.object({ items: z.array(AgentWithStats) }), 'Agents'),
        ...workspacesProblems,
      },
    }),
    async (c) => {
      await deps.readModels.awaitPosition(c, ['workspaceAgentList', 'workspaceList']);
      const id = tenantId(c);
      const withStats = c.req.valid('query').with === 'stats';
      const [rows, usage] = await Promise.all([listAgents(db, id), agentUsage(db, id)]);
      const [seen, stats, running] = await Promise.all([
        deps.heartbeats.lastSeen(rows.map((row) => row.id)),
        // Bounded from the request's arrival: what the page spent so far comes off the agents' time.
        withStats ? deps.stats.readAll(rows, performance.now() - c.get('arrivedAt')) : undefined,
        withStats ? runningWorkspaces(db, id) : undefined,
      ]);
      const items = rows.map((row) => {
        const agent = presentAgent(row, usage.get(row.id), seen.get(row.id));
        const answer = stats?.get(row.id);
        return answer ? { ...agent, stats: presentStats(row.id, answer, running?.get(row.id) ?? 0) } : agent;
      });
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/agents/{id}',
      tags: ['Workspaces'],
      summary: 'One agent',
      request: { params: IdParam },
      responses: { 200: jsonContent(Agent, 'The agent'), ...workspacesProblems },
    }),
    async (c) => {
      const id = tenantId(c);
      const agentId = c.req.valid('param').id;
      const row = await deps.readModels.readOne(
        c,
        ['workspaceAgentList', 'workspaceList'],
        { streamId: agentStreamId(agentId), tenantId: id },
        () => agentRow(db, id, agentId),
      );
      if (!row) throw notFound('agent');
      const [usage, seen] = await Promise.all([agentUsage(db, id), deps.heartbeats.lastSeen([row.id])]);
      return c.json(presentAgent(row, usage.get(row.id), seen.get(row.id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/agents/{id}',
      tags: ['Workspaces'],
      summary: 'Deregister an agent that holds no workspace (its key is forgotten)',
      request: { params: IdParam },
      responses: { 204: { description: 'Deregistered' }, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const agentId = c.req.valid('param').id;
      const held = (await agentUsage(db, tenant.id)).get(agentId);
      if (held && held.workspaces > 0) {
        throw new RequestError(
          409,
          'agent-in-use',
          `the agent holds ${held.workspaces} workspaces: delete or move them first`,
        );
      }
      await deregisterAgent(
        deps.store,
        tenant.id,
        agentId,
        { at: deps.clock().toISOString(), by: actor.userId },
        context,
      );
      await deps.keys.remove(agentId);
      await deps.heartbeats.remove(agentId);
      await deps.samples.remove(agentId);
      deps.stats.forget(agentId);
      return c.body(null, 204);
    },
  );
  return app;
}
