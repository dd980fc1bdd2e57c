import { OpenAPIHono } from '@hono/zod-openapi';
import { catalog, streamHub, systemResolve } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { validationHook } from '../kit/index.ts';
import { exceptPaths, requirePermission } from '../middleware/index.ts';
import { catalogRoutes } from './catalog.ts';
import { executionRoutes } from './executions.ts';
import type { ToolDeps, ToolRouteDeps } from './scope.ts';
import { streamRoutes } from './stream.ts';
import { streamSocketRoutes } from './stream-socket.ts';
import { targetRoutes } from './targets.ts';

export type { ToolDeps, ToolRouteDeps } from './scope.ts';
/** The SSE body of a run's output frames and where a stream resumes: image builds stream the same way. */
export {
  FRAME_STREAM_ANSWER,
  frameStream,
  framesFrom,
  resumePoint,
  SSE_HEADERS,
  StreamQuery,
} from './stream.ts';

/**
 * `/v1/tools…` and `/v1/executions…`: reading needs tools:read, running tools:execute (intrusive
 * tools the operator role or above), the allowlist tools:manage.
 */
export function toolRoutes(deps: ToolRouteDeps) {
  const full: ToolDeps = {
    ...deps,
    catalog: deps.catalog ?? catalog(),
    resolve: deps.resolve ?? systemResolve,
    deniedTargets: deps.deniedTargets ?? [],
    hub: deps.hub ?? streamHub({ db: deps.db as never, pollMs: 20 }),
  };
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.on(
    'GET',
    ['/v1/tools', '/v1/tools/*', '/v1/executions', '/v1/executions/*'],
    exceptPaths('/v1/tools/targets', requirePermission('tools:read')),
  );
  app.on(['GET', 'PUT'], '/v1/tools/targets', requirePermission('tools:manage'));
  app.on(['POST', 'DELETE'], ['/v1/tools/*', '/v1/executions/*'], requirePermission('tools:execute'));
  app.route('/', targetRoutes(full));
  app.route('/', catalogRoutes(full));
  app.route('/', executionRoutes(full));
  app.route('/', streamSocketRoutes(full));
  app.route('/', streamRoutes(full));
  return app;
}
