import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { notFound } from '../../commands/kernel/index.ts';
import { type ExecutionState, ExecutionStatus, findExecution } from '../../commands/tools/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { Principal } from '../../identity/index.ts';
import type { Catalog, Resolve, StreamHub } from '../../tools/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import { principalOf, problemContent, tenantOf } from '../kit/index.ts';

export { principalOf, tenantOf };

export interface ToolRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  /** The tool catalog (default: the built-in tools, wrappers available where their binary is). */
  catalog?: Catalog;
  /** How target host names are resolved (once, at the check). */
  resolve?: Resolve;
  /** Addresses no run may reach whatever the allowlist says (`WARDEN_TOOL_DENIED_TARGETS`; default none). */
  deniedTargets?: readonly string[];
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

/** What a secret parameter reads as once stored. */
export const REDACTED = '[redacted]';

export const Execution = z
  .object({
    id: z.uuid(),
    tool: z.string(),
    tool_version: z.string(),
    status: ExecutionStatus,
    actor: z.string(),
    target: z.string().nullable(),
    address: z.string().nullable(),
    parameters: z.record(z.string(), z.unknown()),
    progress: z.number(),
    exit_code: z.number().int().nullable(),
    error: z.string().nullable(),
    result: z.unknown(),
    output_bytes: z.number().int(),
    output_truncated: z.boolean(),
    cancel_requested: z.boolean(),
    rerun_of: z.uuid().nullable(),
    timeout_ms: z.number().int(),
    queued_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    duration_ms: z.number().int().nullable(),
    revision: z.number().int(),
  })
  .meta({ id: 'Execution' });
export const IdParam = z.object({ id: z.string().max(60) });

export function presentExecution(state: ExecutionState, revision: number) {
  const duration =
    state.startedAt && state.finishedAt ? Date.parse(state.finishedAt) - Date.parse(state.startedAt) : null;
  return {
    id: state.executionId,
    tool: state.toolId,
    tool_version: state.toolVersion,
    status: state.status,
    actor: state.actorId,
    target: state.target,
    address: state.address,
    parameters: state.parameters,
    progress: state.progress,
    exit_code: state.exitCode,
    error: state.error,
    result: state.result,
    output_bytes: state.outputBytes,
    output_truncated: state.truncated,
    cancel_requested: state.cancelRequested,
    rerun_of: state.rerunOf,
    timeout_ms: state.timeoutMs,
    queued_at: state.queuedAt,
    started_at: state.startedAt,
    finished_at: state.finishedAt,
    duration_ms: duration,
    revision,
  };
}

const Uuid = z.uuid();

/** The execution of the path, if the caller may see it: another tenant's, or (without tools:manage) another user's, is a 404. */
export async function visibleExecution(deps: ToolDeps, c: Context<AppEnv>, id: string) {
  const tenant = tenantOf(c);
  const principal = principalOf(c);
  if (!Uuid.safeParse(id).success) throw notFound('execution');
  const found = await findExecution(deps.store, tenant.id, id.toLowerCase());
  if (!found || (!seesAll(principal) && found.state.actorId !== principal.userId))
    throw notFound('execution');
  return { tenant, principal, ...found };
}
