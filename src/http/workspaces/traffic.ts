import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { notFound } from '../../commands/kernel/index.ts';
import { findWorkspace } from '../../commands/workspaces/index.ts';
import { TRAFFIC_RETENTION_MS, workspaceTraffic } from '../../workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { jsonContent, readTables, validationHook } from '../kit/index.ts';
import { type WorkspacesDeps, workspacesContext, workspacesProblems } from './context.ts';
import { IdParam } from './schemas.ts';

const TrafficQuery = z.strictObject({
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Minutes at or after this time (default: the last hour; earliest: 7 days ago)' }),
});

const Counts = { requests: z.number(), bytes_in: z.number(), bytes_out: z.number() };

const WorkspaceTrafficBody = z
  .object({
    workspace_id: z.uuid(),
    since: z.string(),
    totals: z.object(Counts),
    items: z.array(z.object({ minute: z.string(), ...Counts })),
  })
  .meta({ id: 'WorkspaceTraffic' });

/**
 * A workspace's traffic through nginx, per minute (requests, bytes in and out), read from the access
 * log by the traffic tailer: its owner sees their own, operators and admins everyone's; a workspace of
 * another tenant, or another member's, is 404.
 */
export function trafficRoutes(deps: WorkspacesDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const traffic = workspaceTraffic(readTables<unknown>(deps.db));

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/workspaces/{id}/traffic',
      tags: ['Workspaces'],
      summary: 'Requests and bytes in and out of a workspace through nginx, per minute',
      request: { params: IdParam, query: TrafficQuery },
      responses: { 200: jsonContent(WorkspaceTrafficBody, 'Traffic'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant, actor } = workspacesContext(c);
      const { id } = c.req.valid('param');
      const found = await findWorkspace(deps.store, tenant.id, id);
      if (!found || found.state.status === 'deleted') throw notFound('workspace');
      if (!actor.viewer && found.state.userId !== actor.userId) throw notFound('workspace');
      const query = c.req.valid('query');
      const now = deps.clock().getTime();
      const since = new Date(
        Math.max(now - TRAFFIC_RETENTION_MS, query.since ? Date.parse(query.since) : now - 60 * 60 * 1000),
      );
      const minutes = await traffic.perMinute(id, since);
      const items = minutes.map((m) => ({
        minute: m.minute.toISOString(),
        requests: m.requests,
        bytes_in: m.bytesIn,
        bytes_out: m.bytesOut,
      }));
      const totals = items.reduce(
        (sum, m) => ({
          requests: sum.requests + m.requests,
          bytes_in: sum.bytes_in + m.bytes_in,
          bytes_out: sum.bytes_out + m.bytes_out,
        }),
        { requests: 0, bytes_in: 0, bytes_out: 0 },
      );
      return c.json({ workspace_id: id, since: since.toISOString(), totals, items }, 200);
    },
  );
  return app;
}
