import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { invalid } from '../../commands/kernel/index.ts';
import {
  loadWorkspaceSettings,
  setWorkspaceOnApproval,
  type WorkspaceSettingsState,
} from '../../commands/workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, validationHook } from '../kit/index.ts';
import { type WorkspacesDeps, workspacesContext, workspacesProblems } from './context.ts';
import { requireKnownImage } from './images.ts';
import { WorkspaceSettings, WorkspaceSettingsBody } from './schemas.ts';

function present(state: WorkspaceSettingsState) {
  const s = state.onApproval;
  return {
    workspace_on_approval: {
      enabled: s.enabled,
      image: s.image,
      resources: { cpus: s.resources.cpus, memory_mb: s.resources.memoryMb },
      ports: s.ports,
      updated_at: s.updatedAt,
      updated_by: s.by,
    },
  };
}

/**
 * The tenant's workspace settings (`/v1/workspace-settings`): read with `workspaces:view`, set with
 * `workspaces:manage`. "Workspace on approval" (off by default) provisions a workspace with its image
 * and resources for every user an admin approves.
 */
export function settingsRoutes(deps: WorkspacesDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/workspace-settings',
      tags: ['Workspaces'],
      summary: 'The tenant’s workspace settings',
      responses: { 200: jsonContent(WorkspaceSettings, 'The settings'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const { state, revision } = await loadWorkspaceSettings(deps.store, tenant.id);
      c.header('ETag', `"${revision}"`);
      return c.json(present(state), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/workspace-settings',
      tags: ['Workspaces'],
      summary:
        'Set “workspace on approval”: when enabled, approving a user provisions their workspace (an unknown image is 422)',
      request: {
        body: { content: { 'application/json': { schema: WorkspaceSettingsBody } }, required: true },
      },
      responses: {
        200: jsonContent(WorkspaceSettings, 'The settings now'),
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const body = c.req.valid('json').workspace_on_approval;
      if (body.enabled && body.image === null) {
        throw invalid([
          { path: 'workspace_on_approval.image', message: 'an image is required to turn it on' },
        ]);
      }
      if (body.image !== null) {
        await deps.readModels.awaitPosition(c, ['workspaceAgentList']);
        await requireKnownImage(deps, tenant.id, body.image, 'workspace_on_approval.image', null);
      }
      const result = await setWorkspaceOnApproval(
        deps.store,
        {
          tenantId: tenant.id,
          enabled: body.enabled,
          image: body.image,
          resources: { cpus: body.resources.cpus, memoryMb: body.resources.memory_mb },
          ports: body.ports,
          at: deps.clock().toISOString(),
          by: actor.userId,
        },
        context,
      );
      c.header('ETag', `"${result.revision}"`);
      c.header('X-Position', result.position.toString());
      return c.json(present(result.state), 200);
    },
  );
  return app;
}
