import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { invalid, notFound } from '../../commands/kernel/index.ts';
import {
  decideRequest,
  type Finding,
  loadPolicy,
  requestStreamId,
  snapshotOf,
  submitRequest,
} from '../../commands/packages/index.ts';
import { tenantLimits } from '../../commands/tenancy/index.ts';
import { LOCKFILE_KINDS, parseLockfileOffThread, sameIntegrity } from '../../packages/index.ts';
import {
  progressOf,
  requestCounts,
  requestItems,
  requestPage,
  requestRow,
} from '../../projections/packages/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  callerContext,
  commonProblems,
  jsonContent,
  principalOf,
  problemContent,
  readTables,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import {
  ReasonBody,
  RequestDecisionResult,
  RequestListQuery,
  RequestParam,
  RequestSummary,
  RequestView,
  Submitted,
} from './schemas.ts';
import { type DB, type PackageRouteDeps, problems } from './scope.ts';
import { iso, parse } from './views.ts';

/** Lockfile requests: submit one, list them, follow one's progress. */
export function packageRequestRoutes(deps: PackageRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = readTables<DB>(deps.db);
  const now = () => deps.clock().toISOString();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/package-requests',
      tags: ['Packages'],
      summary:
        'Submit a lockfile (npm package-lock.json v1–v3, pnpm-lock.yaml v6–v9, yarn.lock v1 or Berry): each package is checked, then published when approved',
      description:
        'A package-lock.json is sent as application/json; a pnpm-lock.yaml or yarn.lock as application/yaml or text/plain. The kind is read from the text (JSON, `# yarn lockfile v1`, `__metadata:`, `lockfileVersion:`) unless `format` names it.',
      request: {
        query: z.object({
          format: z
            .enum(LOCKFILE_KINDS)
            .optional()
            .meta({ description: 'Which tool wrote the lockfile; without it the text decides' }),
        }),
        body: {
          content: {
            'application/json': {
              schema: z.record(z.string(), z.unknown()).meta({ description: 'package-lock.json' }),
            },
            'application/yaml': {
              schema: z.string().meta({ description: 'pnpm-lock.yaml or yarn.lock' }),
            },
            'text/yaml': {
              schema: z.string().meta({ description: 'pnpm-lock.yaml or yarn.lock' }),
            },
            'text/plain': {
              schema: z.string().meta({ description: 'pnpm-lock.yaml or yarn.lock' }),
            },
          },
          required: true,
        },
      },
      responses: {
        202: jsonContent(Submitted, 'Accepted: follow it at Location'),
        ...commonProblems,
        ...problems,
        422: problemContent(
          'Not a lockfile Warden can read: `errors` names each entry (path, name, version)',
        ),
        429: problemContent(
          'The month’s package requests are used up: `quota`, `limit` and `reset_at` (first of next month, UTC) say which and until when',
        ),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const actor = principalOf(c);
      const { format } = c.req.valid('query');
      const raw = c.get('rawBody') ?? '';
      const json = /json/i.test(c.req.header('content-type') ?? '');
      // JSON without a `format` is a package-lock.json, as before pnpm and Yarn lockfiles were accepted.
      // A large one is read on the lockfile thread: seconds of YAML must not stall every other request.
      const parsed = await parseLockfileOffThread(
        raw === '' ? 'null' : raw,
        format ?? (json ? 'npm' : undefined),
      );
      if (!parsed.ok) throw invalid(parsed.errors.slice(0, 100));
      const requestId = crypto.randomUUID();
      const packages = parsed.packages.map((p) => ({
        spec: p.spec,
        name: p.name,
        version: p.version,
        integrity: p.integrity ?? null,
        license: p.license ?? null,
        dev: p.dev,
        optional: p.optional,
        peer: p.peer,
        bundled: p.bundled,
        aliases: p.aliases,
      }));
      const result = await submitRequest(
        deps.store,
        {
          requestId,
          tenantId: tenant.id,
          by: actor.userId,
          lockfileFormat: parsed.format,
          lockfileVersion: parsed.lockfileVersion,
          project: parsed.name ?? null,
          packages,
          rejected: parsed.rejected,
          at: now(),
          limit: (await tenantLimits(deps.store, tenant.id)).packageRequestsPerMonth,
        },
        callerContext(c, tenant.id, { ifMatch: false }),
      );
      c.header('Location', `/v1/package-requests/${requestId}`);
      c.header('X-Position', result.position.toString());
      return c.json(
        {
          id: requestId,
          status: 'received' as const,
          packages_total: packages.filter((p) => !p.bundled).length,
          unsupported: parsed.rejected,
          position: result.position.toString(),
        },
        202,
      );
    },
  );

  const summary = (
    row: NonNullable<Awaited<ReturnType<typeof requestRow>>>,
    counts: Record<string, number>,
  ): z.infer<typeof RequestSummary> => {
    const unsupported = parse<z.infer<typeof RequestSummary>['unsupported']>(row.unsupported, []);
    const progress = progressOf(row.total, counts, unsupported.length);
    return {
      id: row.id,
      status: progress.status,
      progress: { done: progress.done, total: progress.total },
      counts,
      lockfile_format: row.lockfile_format as z.infer<typeof RequestSummary>['lockfile_format'],
      lockfile_version: row.lockfile_version,
      project: row.project,
      packages_total: row.total,
      bundled: row.bundled,
      unsupported,
      requested_by: row.requested_by,
      created_at: iso(row.created_at)!,
    };
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/package-requests',
      tags: ['Packages'],
      summary:
        'The tenant’s package requests, newest first, with status and progress; filter by status, requester and submission time',
      request: { query: RequestListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(RequestSummary), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...problems,
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['packageRequests', 'packageList']);
      const { page, next_cursor } = await requestPage(db, {
        tenantId: tenant.id,
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
        ...(query.status ? { status: query.status } : {}),
        ...(query.requester ? { requester: query.requester } : {}),
        ...(query.since ? { since: new Date(query.since) } : {}),
        ...(query.until ? { until: new Date(query.until) } : {}),
      });
      const counts = await requestCounts(
        db,
        page.map((r) => r.id),
      );
      return c.json({ items: page.map((r) => summary(r, counts.get(r.id) ?? {})), next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/package-requests/{id}',
      tags: ['Packages'],
      summary: 'A package request: status, progress and each package with its status, license and findings',
      request: { params: RequestParam },
      responses: { 200: jsonContent(RequestView, 'The request'), ...commonProblems, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const row = await deps.readModels.readOne(
        c,
        ['packageRequests', 'packageList'],
        { streamId: requestStreamId(id), tenantId: tenant.id },
        () => requestRow(db, tenant.id, id),
      );
      if (!row) throw notFound('package request');
      const [counts, items] = await Promise.all([requestCounts(db, [id]), requestItems(db, id)]);
      return c.json(
        {
          ...summary(row, counts.get(id) ?? {}),
          packages: items.map((i) => ({
            spec: i.spec,
            status: (i.bundled ? 'bundled' : (i.status ?? 'received')) as z.infer<
              typeof RequestView
            >['packages'][number]['status'],
            dev: i.dev,
            optional: i.optional,
            peer: i.peer,
            license: i.license ?? null,
            max_severity: i.max_severity ?? null,
            findings: parse<Finding[]>(i.findings, []),
            reasons: i.reasons ?? [],
            reason: i.reason ?? null,
            lockfile_integrity: i.lockfile_integrity ?? null,
            // The package's integrity is its bytes' once downloaded (before, the first lockfile's).
            integrity_matches:
              i.lockfile_integrity && i.integrity && i.downloaded_at
                ? (sameIntegrity(i.lockfile_integrity, i.integrity) ?? null)
                : null,
          })),
        },
        200,
      );
    },
  );

  for (const action of ['approve', 'reject'] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/package-requests/{id}/${action}`,
        tags: ['Packages'],
        summary: `${action === 'approve' ? 'Approve' : 'Reject'} every package of the request that waits for an approver (packages:approve); the answer says what happened to each package`,
        request: {
          params: RequestParam,
          body: { content: { 'application/json': { schema: ReasonBody } }, required: true },
        },
        responses: {
          200: jsonContent(
            RequestDecisionResult,
            'Each package: approved / rejected, not waiting, or refused',
          ),
          ...commonProblems,
          ...problems,
        },
      }),
      async (c) => {
        const tenant = tenantOf(c);
        const { id } = c.req.valid('param');
        const { reason } = c.req.valid('json');
        const policy = snapshotOf((await loadPolicy(deps.store, tenant.id)).state);
        const outcomes = await decideRequest(
          deps.store,
          tenant.id,
          id,
          { action, by: principalOf(c).userId, reason, policy, at: now() },
          callerContext(c, tenant.id, { ifMatch: false }),
        );
        const last = outcomes.flatMap((o) => ('position' in o ? [BigInt(o.position)] : [])).at(-1);
        if (last !== undefined) c.header('X-Position', last.toString());
        return c.json(
          {
            request_id: id,
            action,
            packages: outcomes.map((o) => ({
              ...o,
              status: o.status as z.infer<typeof RequestDecisionResult>['packages'][number]['status'],
            })),
          },
          200,
        );
      },
    );
  }

  return app;
}
