import { OpenAPIHono } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { type StreamHub, streamHub } from '../../tools/index.ts';
import {
  agentHeartbeats,
  agentKeys,
  agentStatsReader,
  agentStatsSamples,
  imageRegistries,
  type KeySealer,
  type WorkspaceAccess,
} from '../../workspaces/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import { readTables, validationHook } from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';
import { agentStatsRoutes } from './agent-stats.ts';
import { agentRoutes } from './agents.ts';
import { imageCatalogRoutes } from './image-catalog.ts';
import { settingsRoutes } from './settings.ts';
import { trafficRoutes } from './traffic.ts';
import { uploadRoutes } from './uploads.ts';
import { workspaceRoutes } from './workspaces.ts';

export { workspaceAccessRoutes } from './access.ts';

export interface WorkspacesRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  /** Seals agent keys with the key-encryption key. */
  sealer: KeySealer;
  /** Agents' statistics: each agent's bound and how long an answer is reused. */
  stats: { timeoutMs: number; ttlMs: number };
  /** An unfinished upload with no progress for this long expires (`WARDEN_UPLOAD_EXPIRY_MS`). */
  uploadExpiryMs: number;
  /** The largest image build context taken (`WARDEN_IMAGE_CONTEXT_MAX_BYTES`). */
  imageContextMaxBytes?: number;
  /** The process's reader of run output (tools and image builds); one of its own when absent. */
  hub?: StreamHub;
  /** Workspace tickets and browser sessions (the nginx way in). */
  access: WorkspaceAccess;
  /** WARDEN_WORKSPACE_DOMAIN: a workspace's host is `<user id>.<this>`. */
  workspaceDomain: string;
  /** WARDEN_WORKSPACE_PATH_ROUTES: workspaces are served at `/u/<user id>/` too. */
  pathRoutes: boolean;
}

/**
 * `/v1/agents…` (read with `workspaces:view`, changed with `workspaces:manage`) and `/v1/workspaces…`
 * (`workspaces:use`: a member sees and acts on their own workspace; `workspaces:view` sees everyone's;
 * `workspaces:manage` acts on anyone's in the tenant and sets the tenant's workspace settings).
 */
export function workspacesRoutes(deps: WorkspacesRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const tables = readTables<unknown>(deps.db);
  const keys = agentKeys(tables, deps.sealer);
  const full = {
    ...deps,
    keys,
    heartbeats: agentHeartbeats(tables),
    stats: agentStatsReader({ keys, clock: deps.clock, ...deps.stats }),
    samples: agentStatsSamples(tables),
  };
  app.on('GET', ['/v1/agents', '/v1/agents/*'], requirePermission('workspaces:view', 'workspaces:manage'));
  app.on(['POST', 'DELETE'], ['/v1/agents', '/v1/agents/*'], requirePermission('workspaces:manage'));
  app.on('GET', '/v1/workspace-settings', requirePermission('workspaces:view', 'workspaces:manage'));
  app.on('PUT', '/v1/workspace-settings', requirePermission('workspaces:manage'));
  app.on(
    ['GET', 'POST', 'DELETE'],
    ['/v1/workspaces', '/v1/workspaces/*'],
    requirePermission('workspaces:use', 'workspaces:view', 'workspaces:manage'),
  );
  // Uploads into an agent's store: operators and up; into a workspace: its owner (a member too) or an
  // admin (checked by the routes). OPTIONS (tus discovery) is open.
  app.on(
    ['GET', 'POST', 'PATCH', 'DELETE'],
    ['/v1/uploads', '/v1/uploads/*'],
    requirePermission('workspaces:use', 'workspaces:view', 'workspaces:manage'),
  );
  // The image catalog: operators and up view, build and push; admins delete and set the registry.
  app.on('GET', ['/v1/images', '/v1/images/*'], requirePermission('workspaces:view', 'workspaces:manage'));
  app.on('POST', '/v1/images/*', requirePermission('workspaces:view', 'workspaces:manage'));
  app.on(['PUT', 'DELETE'], '/v1/images/*', requirePermission('workspaces:manage'));
  app.route(
    '/',
    imageCatalogRoutes({
      ...full,
      registries: imageRegistries(tables, deps.sealer),
      hub: deps.hub ?? streamHub({ db: deps.db as never, pollMs: 20 }),
    }),
  );
  app.route('/', agentStatsRoutes(full));
  app.route('/', agentRoutes(full));
  app.route('/', uploadRoutes(full));
  app.route('/', settingsRoutes(full));
  app.route('/', trafficRoutes(full));
  app.route('/', workspaceRoutes(full));
  return app;
}
