import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { Principal } from '../../identity/index.ts';
import type { Catalog, Resolve, StreamHub } from '../../tools/index.ts';
import type { ReadModels } from '../kit/index.ts';
import { problemContent } from '../kit/index.ts';

export { principalOf, tenantOf } from '../kit/index.ts';

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
