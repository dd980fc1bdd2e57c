import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { findUser } from '../../commands/identity/index.ts';
import { notFound } from '../../commands/kernel/index.ts';
import {
  type Actor,
  findIssue,
  findProject,
  issueIdFor,
  type NumberHints,
  ProjectKey,
  parseIssueKey,
  projectIdFor,
} from '../../commands/tracker/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import { principalOf, problemContent, tenantOf } from '../kit/index.ts';

export interface TrackerRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  /** Issue numbers known to be taken, shared by every request of this process. */
  hints?: NumberHints;
}

export type TrackerDeps = Required<TrackerRouteDeps>;

/** The caller as tracker commands see them: "tenant admin" is the owner or admin role, or the platform superadmin. */
export function actorOf(c: Context<AppEnv>): Actor {
  const principal = principalOf(c);
  return {
    userId: principal.userId,
    tenantAdmin: principal.platformSuperadmin || principal.role === 'owner' || principal.role === 'admin',
  };
}

/** Built once: a schema made per call cost every list request its construction. */
const Uuid = z.uuid();

/** A project in a path: its id, or its key (`WARD`). */
export async function projectIdOf(tenantId: string, idOrKey: string): Promise<string> {
  if (ProjectKey.safeParse(idOrKey).success) return projectIdFor(tenantId, idOrKey);
  if (Uuid.safeParse(idOrKey).success) return idOrKey.toLowerCase();
  throw notFound('project');
}

/** An issue in a path or a body: its id, or its key (`WARD-42`). */
export async function issueIdOf(tenantId: string, idOrKey: string): Promise<string | undefined> {
  const key = parseIssueKey(idOrKey);
  if (key) return issueIdFor(await projectIdFor(tenantId, key.key), key.number);
  if (Uuid.safeParse(idOrKey).success) return idOrKey.toLowerCase();
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

/** The project of the path in the request's tenant: another tenant's is a 404. */
export async function projectOf(deps: Pick<TrackerDeps, 'store'>, c: Context<AppEnv>, idOrKey: string) {
  const tenant = tenantOf(c);
  const found = await findProject(deps.store, tenant.id, await projectIdOf(tenant.id, idOrKey));
  if (!found) throw notFound('project');
  return { tenant, ...found };
}

/** The issue of the path in the request's tenant: another tenant's is a 404. */
export async function issueOf(
  deps: Pick<TrackerDeps, 'store'>,
  c: Context<AppEnv>,
  idOrKey: string,
  options: { deleted?: boolean } = {},
) {
  const tenant = tenantOf(c);
  const id = await issueIdOf(tenant.id, idOrKey);
  const found = id ? await findIssue(deps.store, tenant.id, id) : undefined;
  // A deleted issue is gone (404) but for the routes that delete and restore it.
  if (!found || (found.state.deleted && !options.deleted)) throw notFound('issue');
  return { tenant, ...found };
}

export const ProjectParam = z.object({ id: z.string().max(60).meta({ description: 'Project id or key' }) });
export const IssueParam = z.object({
  id: z.string().max(60).meta({ description: 'Issue id or key (WARD-42)' }),
});
