import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { Principal, ResolvedTenant } from '../../identity/principal.ts';
import {
  type Catalog,
  catalog,
  type Resolve,
  type StreamHub,
  streamHub,
  systemResolve,
} from '../../tools/index.ts';
import type { AppEnv } from '../kit/env.ts';
import { problemContent } from '../kit/openapi.ts';
import { RequestError } from '../kit/problem.ts';
import type { ReadModels } from '../kit/read-models.ts';
import { validationHook } from '../kit/validation.ts';
import { requirePermission } from '../middleware/authorize.ts';
import { catalogRoutes } from './catalog.ts';
import { executionRoutes } from './executions.ts';
import { streamRoutes } from './stream.ts';
import { targetRoutes } from './targets.ts';

export interface ToolRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  /** The tool catalog (default: the built-in tools, wrappers available where their binary is). */
  catalog?: Catalog;
  /** How target host names are resolved (once, at the check). */
  resolve?: Resolve;
  /** The process's one reader of tool output for every stream (default: one polling the database). */
  hub?: StreamHub;
}
export type ToolDeps = Required<ToolRouteDeps>;

/** The tenant the request acts in; none is a 404. */
export function tenantOf(c: Context<AppEnv>): ResolvedTenant {
  const tenant = c.get('tenant');
  if (!tenant) throw new RequestError(404, 'tenant-not-found', 'this route acts in a tenant: name one');
  return tenant;
}

export function principalOf(c: Context<AppEnv>): Principal {
  const principal = c.get('principal');
  if (!principal) throw new RequestError(401, 'unauthenticated', 'send a valid access token');
  return principal;
}

/** Operator and above (operator, admin, owner) and the platform superadmin run intrusive tools. */
export const mayRunIntrusive = (p: Principal) =>
  p.platformSuperadmin || p.role === 'operator' || p.role === 'admin' || p.role === 'owner';

/** Whether the caller sees every execution of the tenant, or only their own. */
export const seesAll = (p: Principal) => p.platformSuperadmin || p.permissions.has('tools:manage');

export const toolProblems = {
  401: problemContent('No valid access token'),
  403: problemContent('The role may not do this, or the target is outside the allowlist (named in `target`)'),
  404: problemContent('No such tool or execution in this tenant'),
};

/**
 * `/v1/tools…` and `/v1/executions…`: reading needs tools:read, running tools:execute (intrusive
 * tools the operator role or above), the allowlist tools:manage.
 */
export function toolRoutes(deps: ToolRouteDeps) {
  const full: ToolDeps = {
    ...deps,
    catalog: deps.catalog ?? catalog(),
    resolve: deps.resolve ?? systemResolve,
    hub: deps.hub ?? streamHub({ db: deps.db as never, pollMs: 20 }),
  };
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.on('GET', ['/v1/tools', '/v1/tools/*', '/v1/executions', '/v1/executions/*'], async (c, next) =>
    c.req.path.endsWith('/v1/tools/targets') ? next() : requirePermission('tools:read')(c, next),
  );
  app.on(['GET', 'PUT'], '/v1/tools/targets', requirePermission('tools:manage'));
  app.on(['POST', 'DELETE'], ['/v1/tools/*', '/v1/executions/*'], requirePermission('tools:execute'));
  app.route('/', targetRoutes(full));
  app.route('/', catalogRoutes(full));
  app.route('/', executionRoutes(full));
  app.route('/', streamRoutes(full));
  return app;
}
