import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { findUser } from '../../commands/identity/index.ts';
import { invalid, notFound } from '../../commands/kernel/index.ts';
import { tenantLimits } from '../../commands/tenancy/index.ts';
import {
  assertWorkspaceSlotFree,
  changeWorkspace,
  findWorkspace,
  requestWorkspace,
  type WorkspaceState,
} from '../../commands/workspaces/index.ts';
import {
  type ListedWorkspace,
  listWorkspaces,
  type WorkspacesReadTables,
} from '../../projections/workspaces/index.ts';
import { TICKET_TTL_MS } from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commonProblems,
  decodeCursor,
  encodeCursor,
  jsonContent,
  RequestError,
  readTables,
  signedInUserOf,
  validationHook,
} from '../kit/index.ts';
import { browserSessionRoutes } from './browser-sessions.ts';
import { type WorkspacesDeps, workspacesContext, workspacesProblems } from './context.ts';
import { requireKnownImage } from './images.ts';
import {
  CreateWorkspaceBody,
  DeleteWorkspaceQuery,
  EndedSessions,
  IdParam,
  Workspace,
  WorkspaceListQuery,
  WorkspaceSession,
} from './schemas.ts';

export const workspacePath = (userId: string) => `/u/${userId}/`;

function presentState(state: WorkspaceState, pathRoutes: boolean) {
  return {
    id: state.workspaceId,
    user_id: state.userId,
    image: state.image,
    resources: { cpus: state.resources.cpus, memory_mb: state.resources.memoryMb },
    ports: state.ports,
    agent_id: state.agentId,
    status: state.status,
    container_name: state.containerName,
    failure: state.failure,
    path: pathRoutes ? workspacePath(state.userId) : null,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
  };
}

function presentRow(row: ListedWorkspace, pathRoutes: boolean) {
  return {
    id: row.id,
    user_id: row.user_id,
    image: row.image,
    resources: { cpus: row.cpus, memory_mb: row.memory_mb },
    ports: row.ports,
    agent_id: row.agent_id,
    status: row.status,
    container_name: row.container_name,
    failure: row.failure_step ? { step: row.failure_step, reason: row.failure_reason ?? '' } : null,
    path: pathRoutes ? workspacePath(row.user_id) : null,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

const WorkspaceWritten = Workspace.extend({ position: z.string() });

/**
 * Workspaces: request one (for oneself with `workspaces:use`; for another user or on a chosen agent
 * with `workspaces:manage`), list, read, start, stop, delete. A member sees only their own: anyone
 * else's is a 404, as is another tenant's.
 */
export function workspaceRoutes(deps: WorkspacesDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = readTables<WorkspacesReadTables>(deps.db);
  const written = (c: Context<AppEnv>, state: WorkspaceState, revision: number, position: bigint) => {
    c.header('ETag', `"${revision}"`);
    c.header('X-Position', position.toString());
    return { ...presentState(state, deps.pathRoutes), position: position.toString() };
  };
  /** The workspace of the path, if the caller may see it. */
  const visible = async (c: Context<AppEnv>, workspaceId: string) => {
    const { tenant, actor } = workspacesContext(c);
    const found = await findWorkspace(deps.store, tenant.id, workspaceId);
    if (!found || found.state.status === 'deleted') throw notFound('workspace');
    if (!actor.viewer && found.state.userId !== actor.userId) throw notFound('workspace');
    return found;
  };
  /**
   * The workspace of the path, when the caller may act on it: their own, or anyone's with
   * `workspaces:manage` (an operator sees every workspace but acts only on their own). 403 naming `what`.
   */
  const actionable = async (c: Context<AppEnv>, workspaceId: string, what: string) => {
    const scope = workspacesContext(c);
    const found = await visible(c, workspaceId);
    if (!scope.actor.manager && found.state.userId !== scope.actor.userId) {
      throw new RequestError(403, 'forbidden', `${what} another user's workspace needs workspaces:manage`);
    }
    return { ...scope, found };
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/workspaces',
      tags: ['Workspaces'],
      summary:
        'Request a workspace: 202, then the provisioning process places, creates, starts and routes it',
      request: { body: { content: { 'application/json': { schema: CreateWorkspaceBody } }, required: true } },
      responses: {
        202: jsonContent(WorkspaceWritten, 'Requested'),
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const body = c.req.valid('json');
      const userId = body.user_id ?? actor.userId;
      if ((userId !== actor.userId || body.agent_id) && !actor.manager) {
        throw new RequestError(
          403,
          'forbidden',
          'a workspace for another user, or on a chosen agent, needs workspaces:manage',
        );
      }
      const resources = { cpus: body.resources.cpus, memoryMb: body.resources.memory_mb };
      // The agents come from a read model: a caller who just registered one says so (X-Min-Position).
      await deps.readModels.awaitPosition(c, ['workspaceAgentList']);
      // Asking the agents for the image is a signed round trip to each: it runs while the store
      // answers the other checks, whose refusals still come first (the user, then the quota).
      const imageKnown = requireKnownImage(c, deps, tenant.id, body.image, 'image', body.agent_id ?? null);
      imageKnown.catch(() => undefined);
      const [user, limits] = await Promise.all([
        findUser(deps.store, tenant.id, userId),
        tenantLimits(deps.store, tenant.id),
      ]);
      if (!user) throw invalid([{ path: 'user_id', message: `no user ${userId} in this tenant` }]);
      const limit = limits.workspaces;
      const workspaceId = crypto.randomUUID();
      const at = deps.clock().toISOString();
      await assertWorkspaceSlotFree(deps.store, { tenantId: tenant.id, workspaceId, userId, limit, at });
      await imageKnown;
      const result = await requestWorkspace(
        deps.store,
        {
          workspaceId,
          tenantId: tenant.id,
          userId,
          image: body.image,
          resources,
          agentId: body.agent_id ?? null,
          ports: body.ports,
          at,
          by: actor.userId,
          limit,
        },
        context,
      );
      c.header('Location', `/v1/workspaces/${result.state.workspaceId}`);
      return c.json(written(c, result.state, result.revision, result.position), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/workspaces',
      tags: ['Workspaces'],
      summary: 'Workspaces (a member sees only their own), filtered by user, agent and state',
      request: { query: WorkspaceListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(Workspace), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant, actor } = workspacesContext(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['workspaceList']);
      const userId = actor.viewer ? query.user : actor.userId;
      if (!actor.viewer && query.user && query.user !== actor.userId)
        return c.json({ items: [], next_cursor: null }, 200);
      const after = query.cursor ? decodeCursor(query.cursor, 'created_at') : undefined;
      const rows = await listWorkspaces(
        db,
        {
          tenantId: tenant.id,
          ...(userId ? { userId } : {}),
          ...(query.agent ? { agentId: query.agent } : {}),
          ...(query.state ? { status: query.state } : {}),
        },
        {
          limit: query.limit + 1,
          ...(after ? { after: { createdAt: new Date(after.key), id: after.id } } : {}),
        },
      );
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return c.json(
        {
          items: page.map((row) => presentRow(row, deps.pathRoutes)),
          next_cursor:
            rows.length > query.limit && last
              ? encodeCursor('created_at', new Date(last.created_at).toISOString(), last.id)
              : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/workspaces/{id}',
      tags: ['Workspaces'],
      summary: 'One workspace, as its events say now',
      request: { params: IdParam },
      responses: { 200: jsonContent(Workspace, 'The workspace'), ...workspacesProblems },
    }),
    async (c) => {
      const found = await visible(c, c.req.valid('param').id);
      c.header('ETag', `"${found.revision}"`);
      return c.json(presentState(found.state, deps.pathRoutes), 200);
    },
  );

  for (const action of ['start', 'stop'] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/workspaces/{id}/${action}`,
        tags: ['Workspaces'],
        summary: action === 'start' ? 'Start a stopped workspace' : 'Stop a ready workspace',
        request: { params: IdParam },
        responses: { 202: jsonContent(WorkspaceWritten, 'Accepted'), ...workspacesProblems },
      }),
      async (c) => {
        const { id } = c.req.valid('param');
        const { tenant, actor, context } = await actionable(
          c,
          id,
          action === 'start' ? 'starting' : 'stopping',
        );
        const at = deps.clock().toISOString();
        const result = await changeWorkspace(
          deps.store,
          tenant.id,
          id,
          action === 'start' ? { type: 'StartWorkspace', actor, at } : { type: 'StopWorkspace', actor, at },
          context,
        );
        return c.json(written(c, result.state, result.revision, result.position), 202);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/workspaces/{id}/sessions',
      tags: ['Workspaces'],
      summary:
        'A one-time link into your own ready workspace through nginx (a ticket the browser turns into a session cookie)',
      request: { params: IdParam },
      responses: { 201: jsonContent(WorkspaceSession, 'The link, valid 60 s'), ...workspacesProblems },
    }),
    async (c) => {
      signedInUserOf(c, 'opening a workspace');
      const { tenant, actor, context } = workspacesContext(c);
      const { id } = c.req.valid('param');
      const found = await visible(c, id);
      if (found.state.userId !== actor.userId) {
        throw new RequestError(403, 'forbidden', "only the workspace's user may open a session of it");
      }
      const now = deps.clock();
      const ticketExpiresAt = new Date(now.getTime() + TICKET_TTL_MS);
      const result = await changeWorkspace(
        deps.store,
        tenant.id,
        id,
        {
          type: 'OpenWorkspaceSession',
          actor,
          ticketExpiresAt: ticketExpiresAt.toISOString(),
          at: now.toISOString(),
        },
        context,
      );
      const { userId } = result.state;
      const ticket = await deps.access.ticket(
        { tenantId: tenant.id, workspaceId: id, userId },
        ticketExpiresAt,
      );
      const enter = `/.warden/enter?ticket=${ticket}`;
      c.header('Cache-Control', 'no-store');
      return c.json(
        {
          workspace_id: id,
          ticket,
          expires_at: ticketExpiresAt.toISOString(),
          path: deps.pathRoutes ? `${workspacePath(userId)}${enter.slice(1)}` : null,
          host: `${userId}.${deps.workspaceDomain}`,
          host_path: enter,
        },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/workspaces/{id}/sessions',
      tags: ['Workspaces'],
      summary:
        'End every ticket and browser session of a workspace (its user, or workspaces:manage): nginx refuses them within 5 s',
      request: { params: IdParam },
      responses: { 200: jsonContent(EndedSessions, 'Ended'), ...workspacesProblems },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { tenant, actor, context } = await actionable(c, id, 'ending the sessions of');
      await changeWorkspace(
        deps.store,
        tenant.id,
        id,
        { type: 'EndWorkspaceSessions', actor, at: deps.clock().toISOString() },
        context,
      );
      return c.json({ workspace_id: id, ended: await deps.access.revoke(id) }, 200);
    },
  );
  app.route('/', browserSessionRoutes(deps, actionable));

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/workspaces/{id}',
      tags: ['Workspaces'],
      summary:
        'Delete a workspace (`delete_data=true` removes its volumes too): deprovisioning runs in reverse',
      request: { params: IdParam, query: DeleteWorkspaceQuery },
      responses: { 202: jsonContent(WorkspaceWritten, 'Deletion under way'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const { id } = c.req.valid('param');
      await visible(c, id);
      if (!actor.manager) {
        throw new RequestError(403, 'forbidden', 'deleting a workspace needs workspaces:manage');
      }
      const result = await changeWorkspace(
        deps.store,
        tenant.id,
        id,
        {
          type: 'DeleteWorkspace',
          actor,
          deleteData: c.req.valid('query').delete_data === 'true',
          reason: 'requested',
          at: deps.clock().toISOString(),
        },
        context,
      );
      return c.json(written(c, result.state, result.revision, result.position), 202);
    },
  );
  return app;
}
