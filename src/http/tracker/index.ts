import { OpenAPIHono } from '@hono/zod-openapi';
import { numberHints } from '../../commands/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { validationHook } from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';
import { commentRoutes } from './comments.ts';
import { issueDeletionRoutes } from './issue-deletion.ts';
import { issueRoutes } from './issues.ts';
import { memberRoutes } from './members.ts';
import { projectIssueRoutes } from './project-issues.ts';
import { projectRoutes } from './projects.ts';
import { savedFilterRoutes } from './saved-filters.ts';
import type { TrackerDeps, TrackerRouteDeps } from './scope.ts';

export type { TrackerRouteDeps } from './scope.ts';

/** `/v1/projects…`, `/v1/issues…` and `/v1/saved-filters…`: reads need tracker:read, changes tracker:write; project roles on top. */
export function trackerRoutes(deps: TrackerRouteDeps) {
  const full: TrackerDeps = { ...deps, hints: deps.hints ?? numberHints() };
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const paths = ['/v1/projects', '/v1/projects/*', '/v1/issues', '/v1/issues/*'];
  app.on('GET', paths, requirePermission('tracker:read'));
  app.on(['POST', 'PUT', 'PATCH', 'DELETE'], paths, requirePermission('tracker:write'));
  // A saved filter is the user's own view of what they may read: reading the tracker is enough.
  app.on(
    ['GET', 'POST', 'DELETE'],
    ['/v1/saved-filters', '/v1/saved-filters/*'],
    requirePermission('tracker:read'),
  );
  app.route('/', projectRoutes(full));
  app.route('/', memberRoutes(full));
  app.route('/', projectIssueRoutes(full));
  app.route('/', issueDeletionRoutes(full));
  app.route('/', issueRoutes(full));
  app.route('/', commentRoutes(full));
  app.route('/', savedFilterRoutes(full));
  return app;
}
