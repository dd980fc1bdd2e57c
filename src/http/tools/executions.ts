import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type Kysely, sql } from 'kysely';
import { DomainError, invalid, notFound } from '../../commands/kernel/index.ts';
import { plans } from '../../commands/tenancy/index.ts';
import {
  changeExecution,
  type ExecutionState,
  ExecutionStatus,
  executionStreamId,
  findExecution,
  readTargets,
  requestExecution,
} from '../../commands/tools/index.ts';
import { queueExecution } from '../../processes/tools/index.ts';
import { type ExecutionListTables, listExecutions } from '../../projections/tools/index.ts';
import {
  appendFrames,
  CANCEL_CHANNEL,
  readFrames,
  statusData,
  TargetRefusedError,
  type ToolOutputTables,
  targetChecker,
} from '../../tools/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commandContext,
  commonProblems,
  decodeCursor,
  encodeCursor,
  etagOf,
  jsonContent,
  problemContent,
  RequestError,
  validationHook,
} from '../kit/index.ts';
import { compareResults } from './compare.ts';
import { mayRunIntrusive, principalOf, seesAll, type ToolDeps, tenantOf, toolProblems } from './scope.ts';

/** Parameters larger than this are refused with 413 (they are stored in the execution's event). */
export const MAX_PARAMETER_BYTES = 16 * 1024;
const REDACTED = '[redacted]';

const ExecuteBody = z.strictObject({
  parameters: z.record(z.string(), z.unknown()).default({}),
  timeout_ms: z
    .number()
    .int()
    .min(100)
    .optional()
    .meta({ description: 'Wall-clock limit; at most the tool’s maximum' }),
});
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
const ExecutionSummary = z
  .object({
    id: z.uuid(),
    tool: z.string(),
    status: ExecutionStatus,
    actor: z.string(),
    target: z.string().nullable(),
    progress: z.number(),
    exit_code: z.number().int().nullable(),
    rerun_of: z.uuid().nullable(),
    queued_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .meta({ id: 'ExecutionSummary' });
const ListQuery = z.strictObject({
  tool: z.string().max(60).optional(),
  status: ExecutionStatus.optional(),
  actor: z.string().max(200).optional(),
  target: z.string().max(300).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});
const IdParam = z.object({ id: z.string().max(60) });
const writeProblems = {
  409: problemContent('The execution has finished, or the tool is unavailable here'),
  413: problemContent('Parameters too large'),
  422: problemContent('Parameters fail the tool’s schema: `errors` names each field'),
  429: problemContent('The plan’s daily tool executions are used up: `reset_at` says when they renew'),
};

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

/** The execution of the path, if the caller may see it: another tenant's, or (without tools:manage) another user's, is a 404. */
export async function visibleExecution(deps: ToolDeps, c: Context<AppEnv>, id: string) {
  const tenant = tenantOf(c);
  const principal = principalOf(c);
  if (!z.uuid().safeParse(id).success) throw notFound('execution');
  const found = await findExecution(deps.store, tenant.id, id.toLowerCase());
  if (!found || (!seesAll(principal) && found.state.actorId !== principal.userId))
    throw notFound('execution');
  return { tenant, principal, ...found };
}

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

/** Executions: start one, list the history, read one with its result, its output, cancel, rerun, compare. */
export function executionRoutes(deps: ToolDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const list = deps.db as unknown as Kysely<ExecutionListTables>;
  const output = deps.db as unknown as Kysely<ToolOutputTables>;

  /** Every check first, then one append: a refused request appends nothing. */
  const start = async (
    c: Context<AppEnv>,
    toolId: string,
    parameters: Record<string, unknown>,
    timeoutMs: number | undefined,
    rerunOf: string | null,
  ) => {
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
    let address: string | null = null;
    if (target !== null) {
      const allowlist = await readTargets(deps.store, tenant.id);
      try {
        address = await targetChecker(allowlist.state.targets, deps.resolve).check(target);
      } catch (error) {
        if (!(error instanceof TargetRefusedError)) throw error;
        throw Object.assign(new RequestError(403, 'target-not-allowed', error.message), { target });
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
    const plan = plans[tenant.plan as keyof typeof plans];
    const giveBack = await takeQuota(
      deps.db as never,
      tenant.id,
      plan?.toolExecutionsPerDay ?? null,
      now,
    ).catch((error: unknown) => {
      const resetAt = (error as { resetAt?: Date }).resetAt;
      if (resetAt) c.header('Retry-After', String(Math.ceil((resetAt.getTime() - now.getTime()) / 1000)));
      throw error;
    });
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
  };

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
      return start(c, c.req.valid('param').id, body.parameters, body.timeout_ms, null);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions',
      tags: ['Tools'],
      summary: 'Execution history, newest first (a member without tools:manage sees their own)',
      request: { query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(ExecutionSummary), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...toolProblems,
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const principal = principalOf(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['toolExecutionList']);
      const own = !seesAll(principal);
      if (own && query.actor && query.actor !== principal.userId)
        return c.json({ items: [], next_cursor: null }, 200);
      const cursor = query.cursor ? decodeCursor(query.cursor, '-queued_at') : undefined;
      const rows = await listExecutions(list, {
        tenantId: tenant.id,
        limit: query.limit,
        ...(query.tool ? { tool: query.tool } : {}),
        ...(query.status ? { status: query.status } : {}),
        ...(own ? { actor: principal.userId } : query.actor ? { actor: query.actor } : {}),
        ...(query.target ? { target: query.target } : {}),
        ...(query.since ? { since: new Date(query.since) } : {}),
        ...(cursor ? { before: { queuedAt: new Date(cursor.key), id: cursor.id } } : {}),
      });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
      return c.json(
        {
          items: page.map((r) => ({
            id: r.id,
            tool: r.tool_id,
            status: r.status as ExecutionStatus,
            actor: r.actor_id,
            target: r.target,
            progress: Number(r.progress),
            exit_code: r.exit_code,
            rerun_of: r.rerun_of,
            queued_at: iso(r.queued_at)!,
            started_at: iso(r.started_at),
            finished_at: iso(r.finished_at),
          })),
          next_cursor:
            rows.length > query.limit && last
              ? encodeCursor('-queued_at', new Date(last.queued_at).toISOString(), last.id)
              : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions/{id}',
      tags: ['Tools'],
      summary: 'One execution: status, progress, exit code, duration, result and its output so far',
      request: { params: IdParam },
      responses: {
        200: jsonContent(Execution.extend({ output: z.string() }), 'The execution'),
        ...commonProblems,
        ...toolProblems,
      },
    }),
    async (c) => {
      const found = await visibleExecution(deps, c, c.req.valid('param').id);
      const frames = await readFrames(output, found.state.executionId, 0, 100);
      const text = frames
        .filter((f) => f.kind === 'stdout' || f.kind === 'stderr')
        .map((f) => f.data)
        .join('');
      c.header('ETag', etagOf(found.revision));
      return c.json({ ...presentExecution(found.state, found.revision), output: text }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions/{id}/output',
      tags: ['Tools'],
      summary: 'The output as text (stdout and stderr in order); Range: bytes=… for a part',
      request: { params: IdParam },
      responses: {
        200: { description: 'The output', content: { 'text/plain': { schema: z.string() } } },
        206: { description: 'A part of it', content: { 'text/plain': { schema: z.string() } } },
        416: problemContent('The range is outside the output'),
        ...commonProblems,
        ...toolProblems,
      },
    }),
    async (c) => {
      const found = await visibleExecution(deps, c, c.req.valid('param').id);
      const parts: string[] = [];
      for (let after = 0; ; ) {
        const page = await readFrames(output, found.state.executionId, after, 1000);
        for (const f of page) if (f.kind === 'stdout' || f.kind === 'stderr') parts.push(f.data);
        if (page.length < 1000) break;
        after = page[page.length - 1]!.seq;
      }
      const bytes = new TextEncoder().encode(parts.join(''));
      c.header('Accept-Ranges', 'bytes');
      const range = c.req.header('range');
      // A byte body (a part may cut a character): typed as the text the schema documents.
      if (!range) return c.body(bytes, 200, { 'content-type': 'text/plain; charset=utf-8' }) as never;
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      let from = m?.[1] ? Number(m[1]) : undefined;
      let to = m?.[2] ? Number(m[2]) : undefined;
      if (m && from === undefined && to !== undefined) {
        from = Math.max(0, bytes.length - to);
        to = bytes.length - 1;
      }
      if (!m || from === undefined || from >= bytes.length || (to !== undefined && to < from)) {
        c.header('Content-Range', `bytes */${bytes.length}`);
        throw new RequestError(416, 'range-not-satisfiable', `the output has ${bytes.length} bytes`);
      }
      const end = Math.min(to ?? bytes.length - 1, bytes.length - 1);
      c.header('Content-Range', `bytes ${from}-${end}/${bytes.length}`);
      return c.body(bytes.slice(from, end + 1), 206, {
        'content-type': 'text/plain; charset=utf-8',
      }) as never;
    },
  );

  const cancel = async (c: Context<AppEnv>, id: string) => {
    const found = await visibleExecution(deps, c, id);
    const result = await changeExecution(
      deps.store,
      found.tenant.id,
      found.state.executionId,
      { type: 'CancelExecution', by: found.principal.userId, at: deps.clock().toISOString() },
      commandContext(c, { tenantId: found.tenant.id, actorId: found.principal.userId }),
    );
    if (result.state.status === 'cancelled') {
      // Cancelled while queued: it never starts, and its stream ends here.
      await appendFrames(output, found.state.executionId, [
        { kind: 'status', data: statusData('cancelled', { output_bytes: 0, truncated: false }) },
      ]);
    } else {
      await sql`select pg_notify(${CANCEL_CHANNEL}, current_schema() || ':' || ${found.state.executionId}::text)`.execute(
        deps.db,
      );
    }
    c.header('X-Position', result.position.toString());
    return c.json(presentExecution(result.state, result.revision), 202);
  };
  const cancelRoute = (method: 'delete' | 'post', path: string) =>
    createRoute({
      method,
      path,
      tags: ['Tools'],
      summary: 'Cancel: a queued run never starts; a running one gets SIGTERM, then SIGKILL; output is kept',
      request: { params: IdParam },
      responses: {
        202: jsonContent(Execution, 'Cancelled, or asked to stop'),
        ...commonProblems,
        ...toolProblems,
        409: problemContent('The execution has finished already'),
      },
    });
  app.openapi(cancelRoute('delete', '/v1/executions/{id}'), (c) => cancel(c, c.req.valid('param').id));
  app.openapi(cancelRoute('post', '/v1/executions/{id}/cancel'), (c) => cancel(c, c.req.valid('param').id));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/executions/{id}/rerun',
      tags: ['Tools'],
      summary: 'Run the same tool with the same parameters again (checked again, counted again)',
      request: { params: IdParam },
      responses: {
        202: jsonContent(Execution.extend({ position: z.string() }), 'Queued'),
        ...commonProblems,
        ...toolProblems,
        ...writeProblems,
      },
    }),
    async (c) => {
      const found = await visibleExecution(deps, c, c.req.valid('param').id);
      if (Object.values(found.state.parameters).includes(REDACTED)) {
        throw invalid([
          { path: 'parameters', message: 'secret parameters are not kept: start a new execution' },
        ]);
      }
      return start(
        c,
        found.state.toolId,
        found.state.parameters,
        found.state.timeoutMs,
        found.state.executionId,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/executions/{id}/compare/{other}',
      tags: ['Tools'],
      summary: 'Compare the results of two executions of the same tool (ports, certificate, headers)',
      request: { params: IdParam.extend({ other: z.string().max(60) }) },
      responses: {
        200: jsonContent(z.record(z.string(), z.unknown()), 'The differences'),
        ...commonProblems,
        ...toolProblems,
        422: problemContent('Different tools, or an execution without a result'),
      },
    }),
    async (c) => {
      const params = c.req.valid('param');
      const a = await visibleExecution(deps, c, params.id);
      const b = await visibleExecution(deps, c, params.other);
      if (a.state.toolId !== b.state.toolId) {
        throw invalid([
          {
            path: 'other',
            message: `compares only runs of one tool (${a.state.toolId} ≠ ${b.state.toolId})`,
          },
        ]);
      }
      if (a.state.status !== 'completed' || b.state.status !== 'completed') {
        throw invalid([{ path: 'id', message: 'both executions must have completed with a result' }]);
      }
      return c.json(
        {
          tool: a.state.toolId,
          from: a.state.executionId,
          to: b.state.executionId,
          ...compareResults(a.state.toolId, a.state.result, b.state.result),
        },
        200,
      );
    },
  );
  return app;
}
