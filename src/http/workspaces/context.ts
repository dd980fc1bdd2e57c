import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type {
  AgentHeartbeats,
  AgentKeys,
  AgentStatsReader,
  AgentStatsSamples,
  WorkspaceAccess,
} from '../../workspaces/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import { commandContext, principalOf, problemContent, tenantOf } from '../kit/index.ts';

export interface WorkspacesDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  keys: AgentKeys;
  heartbeats: AgentHeartbeats;
  /** Agents' statistics, asked in parallel, bounded and cached. */
  stats: AgentStatsReader;
  /** The day of samples behind `/v1/agents/{id}/stats/history`. */
  samples: AgentStatsSamples;
  /** Workspace tickets and browser sessions (the nginx way in). */
  access: WorkspaceAccess;
  /** WARDEN_WORKSPACE_DOMAIN: a workspace's host is `<user id>.<this>`. */
  workspaceDomain: string;
  /** WARDEN_WORKSPACE_PATH_ROUTES: workspaces are served at `/u/<user id>/` too. */
  pathRoutes: boolean;
}

/**
 * The tenant, the caller and the command context of a request. `manager` (`workspaces:manage`, owner
 * and admin) acts on anyone's workspace; `viewer` (`workspaces:view` or manage, so operators too) sees
 * every agent and workspace of the tenant but acts only on their own.
 */
export function workspacesContext(c: Context<AppEnv>) {
  const tenant = tenantOf(c);
  const principal = principalOf(c);
  const manager = principal.permissions.has('workspaces:manage');
  const actor = {
    userId: principal.userId,
    manager,
    viewer: manager || principal.permissions.has('workspaces:view'),
  };
  const context = commandContext(c, { tenantId: tenant.id, actorId: principal.userId }, { ifMatch: false });
  return { tenant, actor, context };
}

export const workspacesProblems = {
  401: problemContent('No valid access token'),
  403: problemContent('The role may not do this'),
  404: problemContent('No such agent, workspace or user in this tenant'),
  409: problemContent('Refused: quota, capacity (with the numbers), one workspace per user, or the state'),
};
