import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type Kysely, sql } from 'kysely';
import { DomainError, invalid, notFound } from '../../commands/kernel/index.ts';
import { tenantLimits } from '../../commands/tenancy/index.ts';
import { executionStreamId, readTargets, requestExecution } from '../../commands/tools/index.ts';
import { queueExecution } from '../../processes/tools/index.ts';
import { TargetRefusedError, targetChecker } from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commandContext,
  commonProblems,
  etagOf,
  jsonContent,
  problemContent,
  RequestError,
  validationHook,
} from '../kit/index.ts';
import {
  Execution,
  IdParam,
  mayRunIntrusive,
  presentExecution,
  principalOf,
  REDACTED,
  type ToolDeps,
  tenantOf,
  toolProblems,
} from './scope.ts';

/** Parameters larger than this are refused with 413 (they are stored in the execution's event). */
export const MAX_PARAMETER_BYTES = 16 * 1024;

const ExecuteBody = z.strictObject({
  parameters: z.record(z.string(), z.unknown()).default({}),
  timeout_ms: z
    .number()
    .int()
    .min(100)
    .optional()
    .meta({ description: 'Wall-clock limit; at most the tool’s maximum' }),
});

/** The conflicts, limits and quota a request to run a tool (or a rerun) can meet. */
export const writeProblems = {
  409: problemContent('The execution has finished, or the tool is unavailable here'),
  413: problemContent('Parameters too large'),
  422: problemContent('Parameters fail the tool’s schema: `errors` names each field'),
  429: problemContent('The plan’s daily tool executions are used up: `reset_at` says when they renew'),
};

/** Counts one execution against the plan's daily quota, or refuses with 429 and the reset time. */
async function takeQuota(db: Kysely<unknown>, tenantId: string, limit: number | null, now: Date) {
  if (limit === null) return async () => {};
  const day = now.toISOString().slice(0, 10);
  const taken = await sql<{ used: number }>`
    insert into warden_tool_quota (tenant_id, day, used) values (${tenantId}, ${day}::date, 1)
    on conflict (tenant_id, day) do update set used = warden_tool_quota.used + 1
      where warden_tool_quota.used < ${limit}
    returning used`.execute(db);
  if (taken.rows.length === 0) {
    const reset = new Date(`${day}T00:00:00.000Z`);
    reset.setUTCDate(reset.getUTCDate() + 1);
    throw Object.assign(
      new RequestError(
        429,
        'tool-quota-exhausted',
        `the plan allows ${limit} tool executions a day; they renew at ${reset.toISOString()}`,
        [],
        { quota: 'toolExecutionsPerDay', limit, reset_at: reset.toISOString() },
      ),
      { resetAt: reset },
    );
  }
  return async () => {
    await sql`update warden_tool_quota set used = used - 1 where tenant_id = ${tenantId} and day = ${day}::date`.execute(
      db,
    );
  };
}

/** Every check first, then one append: a refused request appends nothing. */
export async function startExecution(
  deps: ToolDeps,
  c: Context<AppEnv>,
  toolId: string,
  parameters: Record<string, unknown>,
  timeoutMs: number | undefined,
  rerunOf: string | null,
) {
  const tenant = tenantOf(c);
  const principal = principalOf(c);
  const entry = deps.catalog.get(toolId);
  if (!entry) throw notFound('tool');
  const { tool } = entry;
  if (tool.intrusive && !mayRunIntrusive(principal)) {
    throw new DomainError('FORBIDDEN', `${tool.id} is intrusive: it needs the operator role or above`, {
      rule: 'intrusive_needs_operator',
    });
  }
  if (!entry.available) {
    throw new RequestError(409, 'tool-unavailable', entry.unavailableReason ?? 'the tool cannot run here');
  }
  if (new TextEncoder().encode(JSON.stringify(parameters)).length > MAX_PARAMETER_BYTES) {
    throw new RequestError(
      413,
      'parameters-too-large',
      `parameters must be at most ${MAX_PARAMETER_BYTES} bytes`,
    );
  }
  const parsed = tool.parameters.safeParse(parameters);
  if (!parsed.success) {
    throw invalid(
      parsed.error.issues.map((i) => ({
        path: ['parameters', ...i.path.map(String)].join('.'),
        message: i.message,
      })),
    );
  }
  const timeout = timeoutMs ?? tool.defaultTimeoutMs;
  if (timeout > tool.maxTimeoutMs) {
    throw invalid([{ path: 'timeout_ms', message: `must be at most ${tool.maxTimeoutMs} for ${tool.id}` }]);
  }
  const target = tool.target?.(parsed.data) ?? null;
  // Both reads at once (each is a round trip the caller waits for); neither writes anything.
  const [allowlist, limits] = await Promise.all([
    target !== null ? readTargets(deps.store, tenant.id) : undefined,
    tenantLimits(deps.store, tenant.id),
  ]);
  let address: string | null = null;
  if (target !== null && allowlist) {
    try {
      address = await targetChecker(allowlist.state.targets, deps.resolve, deps.deniedTargets).check(target);
    } catch (error) {
      if (!(error instanceof TargetRefusedError)) throw error;
      throw new RequestError(403, 'target-not-allowed', error.message, [], { target });
    }
  }
  const secrets: Record<string, unknown> = {};
  const stored: Record<string, unknown> = { ...parameters };
  for (const name of tool.secretParameters ?? []) {
    if (name in stored) {
      secrets[name] = stored[name];
      stored[name] = REDACTED;
    }
  }
  const now = deps.clock();
  const giveBack = await takeQuota(deps.db as never, tenant.id, limits.toolExecutionsPerDay, now).catch(
    (error: unknown) => {
      const resetAt = (error as { resetAt?: Date }).resetAt;
      if (resetAt) c.header('Retry-After', String(Math.ceil((resetAt.getTime() - now.getTime()) / 1000)));
      throw error;
    },
  );
  const executionId = crypto.randomUUID();
  try {
    const result = await requestExecution(
      deps.store,
      {
        type: 'RequestExecution',
        executionId,
        tenantId: tenant.id,
        toolId: tool.id,
        toolVersion: tool.version,
        actorId: principal.userId,
        target,
        address,
        parameters: stored,
        timeoutMs: timeout,
        rerunOf,
        at: now.toISOString(),
      },
      commandContext(c, { tenantId: tenant.id, actorId: principal.userId }),
    );
    await queueExecution(deps.db as never, {
      executionId,
      tenantId: tenant.id,
      streamId: executionStreamId(executionId),
      secrets,
    });
    c.header('Location', `/v1/executions/${executionId}`);
    c.header('ETag', etagOf(result.revision));
    c.header('X-Position', result.position.toString());
    return c.json(
      { ...presentExecution(result.state, result.revision), position: result.position.toString() },
      202,
    );
  } catch (error) {
    await giveBack().catch(() => undefined);
    throw error;
  }
}

/** `POST /v1/tools/{id}/executions`: run a tool. */
export function requestRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/tools/{id}/executions',
      tags: ['Tools'],
      summary: 'Run a tool: validated parameters, target checked against the allowlist, queued as a job',
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: ExecuteBody } }, required: true },
      },
      responses: {
        202: jsonContent(Execution.extend({ position: z.string() }), 'Queued'),
        ...commonProblems,
        ...toolProblems,
        ...writeProblems,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return startExecution(deps, c, c.req.valid('param').id, body.parameters, body.timeout_ms, null);
    },
  );
  return app;
}
