import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { invalid } from '../../commands/kernel/index.ts';
import {
  loadWorkspaceSettings,
  setWorkspaceLossPolicy,
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
    on_agent_loss: state.loss.onAgentLoss,
    on_container_lost: state.loss.onContainerLost,
    loss_policy_updated_at: state.loss.updatedAt,
    loss_policy_updated_by: state.loss.by,
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
        'Set “workspace on approval” (when enabled, approving a user provisions their workspace; an unknown image is 422) and/or the loss policy (`on_agent_loss`, `on_container_lost`)',
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
      const input = c.req.valid('json');
      const body = input.workspace_on_approval;
      if (body === undefined && input.on_agent_loss === undefined && input.on_container_lost === undefined) {
        throw invalid([{ path: '', message: 'nothing to set' }]);
      }
      if (body?.enabled && body.image === null) {
        throw invalid([
          { path: 'workspace_on_approval.image', message: 'an image is required to turn it on' },
        ]);
      }
      if (body && body.image !== null) {
        await deps.readModels.awaitPosition(c, ['workspaceAgentList']);
        await requireKnownImage(c, deps, tenant.id, body.image, 'workspace_on_approval.image', null);
      }
      const at = deps.clock().toISOString();
      let result = body
        ? await setWorkspaceOnApproval(
            deps.store,
            {
              tenantId: tenant.id,
              enabled: body.enabled,
              image: body.image,
              resources: { cpus: body.resources.cpus, memoryMb: body.resources.memory_mb },
              ports: body.ports,
              at,
              by: actor.userId,
            },
            context,
          )
        : undefined;
      if (input.on_agent_loss !== undefined || input.on_container_lost !== undefined) {
        const now = result?.state ?? (await loadWorkspaceSettings(deps.store, tenant.id)).state;
        result = await setWorkspaceLossPolicy(
          deps.store,
          {
            tenantId: tenant.id,
            onAgentLoss: input.on_agent_loss ?? now.loss.onAgentLoss,
            onContainerLost: input.on_container_lost ?? now.loss.onContainerLost,
            at,
            by: actor.userId,
          },
          context,
        );
      }
      if (!result) throw new Error('unreachable: something was set');
      c.header('ETag', `"${result.revision}"`);
      c.header('X-Position', result.position.toString());
      return c.json(present(result.state), 200);
    },
  );
  return app;
}
