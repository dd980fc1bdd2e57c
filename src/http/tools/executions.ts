import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';
import { validationHook } from '../kit/index.ts';
import { cancelRoutes } from './cancel.ts';
import { historyRoutes } from './history.ts';
import { outputRoutes } from './output.ts';
import { requestRoutes } from './request.ts';
import { rerunRoutes } from './rerun.ts';
import type { ToolDeps } from './scope.ts';

/** Executions: start one, list the history, read one with its result, its output, cancel, rerun, compare. */
export function executionRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.route('/', requestRoutes(deps));
  app.route('/', historyRoutes(deps));
  app.route('/', outputRoutes(deps));
  app.route('/', cancelRoutes(deps));
  app.route('/', rerunRoutes(deps));
  return app;
}
