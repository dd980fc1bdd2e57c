import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { findUser } from '../../commands/identity/index.ts';
import { notFound } from '../../commands/kernel/errors.ts';
import {
  type Actor,
  issueIdFor,
  type NumberHints,
  numberHints,
  ProjectKey,
  parseIssueKey,
  projectIdFor,
} from '../../commands/tracker/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { ResolvedTenant } from '../../identity/principal.ts';
import { commandContext } from '../kit/command-context.ts';
import type { AppEnv } from '../kit/env.ts';
import { problemContent } from '../kit/openapi.ts';
import { RequestError } from '../kit/problem.ts';
import type { ReadModels } from '../kit/read-models.ts';
import { validationHook } from '../kit/validation.ts';
import { requirePermission } from '../middleware/authorize.ts';
import { issueRoutes } from './issues.ts';
import { projectRoutes } from './projects.ts';

export interface TrackerRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  /** Issue numbers known to be taken, shared by every request of this process. */
  hints?: NumberHints;
}

export type TrackerDeps = Required<TrackerRouteDeps>;

/** The tenant the request acts in; none is a 404. */
export function tenantOf(c: Context<AppEnv>): ResolvedTenant {
  const tenant = c.get('tenant');
  if (!tenant) throw new RequestError(404, 'tenant-not-found', 'this route acts in a tenant: name one');
  return tenant;
}

/** The caller as tracker commands see them: "tenant admin" is the owner or admin role, or the platform superadmin. */
export function actorOf(c: Context<AppEnv>): Actor {
  const principal = c.get('principal');
  if (!principal) throw new RequestError(401, 'unauthenticated', 'send a valid access token');
  return {
    userId: principal.userId,
    tenantAdmin: principal.platformSuperadmin || principal.role === 'owner' || principal.role === 'admin',
  };
}

export function trackerContext(c: Context<AppEnv>, tenantId: string, withIfMatch = true) {
  const context = commandContext(c, { tenantId, actorId: actorOf(c).userId });
  if (withIfMatch) return context;
  const { expectedRevision: _, ...rest } = context;
  return rest;
}

/** A project in a path: its id, or its key (`WARD`). */
export async function projectIdOf(tenantId: string, idOrKey: string): Promise<string> {
  if (ProjectKey.safeParse(idOrKey).success) return projectIdFor(tenantId, idOrKey);
  if (z.uuid().safeParse(idOrKey).success) return idOrKey.toLowerCase();
  throw notFound('project');
}

/** An issue in a path or a body: its id, or its key (`WARD-42`). */
export async function issueIdOf(tenantId: string, idOrKey: string): Promise<string | undefined> {
  const key = parseIssueKey(idOrKey);
  if (key) return issueIdFor(await projectIdFor(tenantId, key.key), key.number);
  if (z.uuid().safeParse(idOrKey).success) return idOrKey.toLowerCase();
  return undefined;
}

/** A user named in a tracker command must be a live user of the tenant. */
export async function tenantUser(store: EventStore, tenantId: string, userId: string) {
  return findUser(store, tenantId, userId);
}

export const trackerProblems = {
  401: problemContent('No valid access token'),
  403: problemContent('The role (tenant or project) may not do this: `rule` names why'),
  404: problemContent('No such project or issue in this tenant'),
};

export const writeProblems = {
  ...trackerProblems,
  409: problemContent('A business rule refuses it: `rule` names which'),
  412: problemContent('If-Match does not match the current revision'),
  422: problemContent('A value a rule refuses (unknown label, assignee not a member): `errors` and `rule`'),
};

/** `/v1/projects…` and `/v1/issues…`: reads need tracker:read, changes tracker:write; project roles on top. */
export function trackerRoutes(deps: TrackerRouteDeps) {
  const full: TrackerDeps = { ...deps, hints: deps.hints ?? numberHints() };
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const paths = ['/v1/projects', '/v1/projects/*', '/v1/issues', '/v1/issues/*'];
  app.on('GET', paths, requirePermission('tracker:read'));
  app.on(['POST', 'PUT', 'PATCH', 'DELETE'], paths, requirePermission('tracker:write'));
  app.route('/', projectRoutes(full));
  app.route('/', issueRoutes(full));
  return app;
}
