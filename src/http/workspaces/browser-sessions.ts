import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { notFound } from '../../commands/kernel/index.ts';
import { changeWorkspace } from '../../commands/workspaces/index.ts';
import { pageWithCursor } from '../../projections/engine/index.ts';
import { SESSION_ORDER } from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, problemContent, validationHook } from '../kit/index.ts';
import { type WorkspacesDeps, type workspacesContext, workspacesProblems } from './context.ts';
import { BrowserSession, BrowserSessionListQuery, IdParam, SessionIdParam } from './schemas.ts';

/**
 * The workspace routes' rule for acting on a workspace: its user, or anyone's with
 * `workspaces:manage`; another user's that the caller cannot see is a 404, one they see but may not
 * act on a 403, another tenant's a 404.
 */
type Actionable = (
  c: Context<AppEnv>,
  workspaceId: string,
  what: string,
) => Promise<ReturnType<typeof workspacesContext>>;

/**
 * A workspace's browser sessions, for its user (or a manager), as a sessions page shows them:
 * `GET /v1/workspaces/{id}/sessions` lists the open ones, `DELETE /v1/workspaces/{id}/sessions/{sessionId}`
 * ends one (the existing `DELETE …/sessions` ends them all). Who may: as that DELETE.
 */
export function browserSessionRoutes(deps: WorkspacesDeps, actionable: Actionable) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/workspaces/{id}/sessions',
      tags: ['Workspaces'],
      summary:
        'The open browser sessions of a workspace, newest first (its user, or workspaces:manage): when each was entered, last used and from where; tickets not yet used are not sessions',
      request: { params: IdParam, query: BrowserSessionListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(BrowserSession), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const query = c.req.valid('query');
      await actionable(c, id, 'listing the sessions of');
      const rows = await deps.access.sessions(id, { limit: query.limit, cursor: query.cursor });
      const { page, next_cursor } = pageWithCursor(rows, query.limit, SESSION_ORDER, (session) =>
        session.createdAt.toISOString(),
      );
      // Where a person's browser was: not for any cache on the way.
      c.header('Cache-Control', 'no-store');
      return c.json(
        {
          items: page.map((session) => ({
            id: session.id,
            created_at: session.createdAt.toISOString(),
            expires_at: session.expiresAt.toISOString(),
            last_used_at: session.lastUsedAt?.toISOString() ?? null,
            user_agent: session.origin?.userAgent ?? null,
            client_address: session.origin?.clientAddress ?? null,
          })),
          next_cursor,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/workspaces/{id}/sessions/{sessionId}',
      tags: ['Workspaces'],
      summary:
        'End one browser session of a workspace by its id (its user, or workspaces:manage): nginx refuses it within 5 s',
      request: { params: SessionIdParam },
      responses: {
        204: { description: 'Ended' },
        ...commonProblems,
        ...workspacesProblems,
        404: problemContent('No such workspace, or no open session of it with this id'),
      },
    }),
    async (c) => {
      const { id, sessionId } = c.req.valid('param');
      const { tenant, actor, context } = await actionable(c, id, 'ending a session of');
      // Another workspace's session, a ticket or an expired one is not this workspace's to end.
      if (!(await deps.access.isOpen(id, sessionId))) throw notFound('session');
      await changeWorkspace(
        deps.store,
        tenant.id,
        id,
        { type: 'EndWorkspaceSession', actor, sessionId, at: deps.clock().toISOString() },
        context,
      );
      await deps.access.end(id, sessionId);
      return c.body(null, 204);
    },
  );

  return app;
}
