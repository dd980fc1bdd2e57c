import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  fetchAllowed,
  isWorkspaceNginxKey,
  NGINX_KEY_HEADER,
  SECRET_SHAPE,
  WORKSPACE_COOKIE,
  type WorkspaceAccess,
} from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemContent, problemResponse, requestOrigin } from '../kit/index.ts';
import { workspacePath } from './workspaces.ts';

/** Every value of the named cookie (a browser may send two of one name, for two paths). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) values.push(part.slice(at + 1).trim());
  }
  return values;
}

const IP_ADDRESS = z.union([z.ipv4(), z.ipv6()]);

/**
 * Where a browser entering a workspace came from. The rendered nginx replaces the browser's
 * `X-Forwarded-For` with the peer it saw and sends its key: with the key, that first entry is the
 * browser (a proxy between nginx and Warden only appends), whatever `WARDEN_TRUSTED_PROXY_HOPS`
 * says. Without it (no key configured, a wrong one, a caller other than nginx) the address is read
 * as for every other request, so a browser calling this route itself forges nothing it could not
 * forge elsewhere.
 */
function enteredFrom(c: Context<AppEnv>, nginxKey: string | undefined) {
  const origin = requestOrigin(c);
  if (!nginxKey || !isWorkspaceNginxKey(c.req.header(NGINX_KEY_HEADER), nginxKey)) return origin;
  const seen = IP_ADDRESS.safeParse(c.req.header('x-forwarded-for')?.split(',')[0]?.trim());
  return seen.success ? { ...origin, clientAddress: seen.data } : origin;
}

/**
 * What the workspace nginx calls (see the rendered configuration), as two apps:
 * - `enter`, `GET /workspace-access/enter`: turns a one-time ticket into the session cookie, scoped
 *   to the workspace's path (`/u/<user>/`) or host, and redirects into the workspace;
 * - `check`, `GET /workspace-access/check/{workspace id}`: nginx's `auth_request` before every
 *   request to a workspace, 204 (let through), 401 (no session of this workspace) or 403 (a
 *   cross-site request the Fetch Metadata rules refuse). The caller mounts it ahead of the
 *   per-request middleware (request log, metrics, headers for browsers) its answer does not need.
 * Neither takes an access token: nginx strips `Authorization`; the secrets are the ticket and cookie.
 * `nginxKey` (`workspaceNginxKey`) is what nginx vouches for the entering browser's address with.
 */
export function workspaceAccessRoutes(access: WorkspaceAccess, sessionTtlSeconds: number, nginxKey?: string) {
  const app = new OpenAPIHono<AppEnv>();
  const check = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/workspace-access/enter',
      tags: ['Workspace access (nginx)'],
      summary:
        'Through the workspace nginx only: uses a one-time ticket, sets the session cookie for the workspace’s path or host, and redirects into it',
      request: { query: z.object({ ticket: z.string().optional() }) },
      responses: {
        303: { description: 'Into the workspace, with `Set-Cookie: warden_workspace=…`' },
        400: problemContent('No ticket, or not one Warden issued'),
        401: problemContent(
          'The ticket was used, expired or is unknown, or its user may no longer use the workspace',
        ),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'no-store');
      const ticket = c.req.query('ticket') ?? '';
      if (!SECRET_SHAPE.test(ticket)) {
        return problemResponse(c, 400, 'invalid-ticket', 'the link has no ticket, or not one Warden gave');
      }
      // Where the browser came from, for its user's list of sessions (kept sealed, with the session).
      const entered = await access.enter(ticket, enteredFrom(c, nginxKey));
      if (!entered) {
        return problemResponse(
          c,
          401,
          'ticket-refused',
          'this link was used, expired or is unknown: ask Warden for a new one (POST /v1/workspaces/{id}/sessions)',
        );
      }
      // nginx says which address the browser came by: the cookie then belongs to that path or that host.
      const byHost = c.req.header('x-warden-route') === 'host';
      const home = byHost ? '/' : workspacePath(entered.userId);
      const secure = c.req.header('x-warden-scheme') === 'https' ? '; Secure' : '';
      c.header(
        'Set-Cookie',
        `${WORKSPACE_COOKIE}=${entered.session}; Path=${home}; Max-Age=${sessionTtlSeconds}; HttpOnly; SameSite=Lax${secure}`,
      );
      return c.redirect(home, 303);
    },
  );

  check.openapi(
    createRoute({
      method: 'get',
      path: '/workspace-access/check/{workspaceId}',
      tags: ['Workspace access (nginx)'],
      summary:
        'nginx’s `auth_request` before each request to a workspace: is there a session of this workspace in the cookie?',
      // Only nginx calls it, with the id of a route it renders: anything else is a 400.
      request: { params: z.object({ workspaceId: z.uuid() }) },
      responses: {
        204: { description: 'Let through' },
        401: { description: 'No session of this workspace' },
        403: { description: 'A session, but a cross-site request the Fetch Metadata rules refuse' },
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'no-store');
      const { workspaceId } = c.req.valid('param');
      const sessions = cookieValues(c.req.header('cookie'), WORKSPACE_COOKIE).filter((value) =>
        SECRET_SHAPE.test(value),
      );
      for (const session of sessions) {
        if (!(await access.check(session, workspaceId))) continue;
        const allowed = fetchAllowed({
          site: c.req.header('sec-fetch-site'),
          mode: c.req.header('sec-fetch-mode'),
          dest: c.req.header('sec-fetch-dest'),
          method: c.req.header('x-original-method'),
        });
        return c.body(null, allowed ? 204 : 403);
      }
      return c.body(null, 401);
    },
  );

  return { enter: app, check };
}
