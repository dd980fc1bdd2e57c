import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { invalid, notFound } from '../../commands/kernel/index.ts';
import { type Finding, requestStreamId, submitRequest } from '../../commands/packages/index.ts';
import { parseLockfile } from '../../packages/index.ts';
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
import { RequestParam, RequestSummary, RequestView, Submitted } from './schemas.ts';
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
        'Submit an npm package-lock.json (v1, v2 or v3): each package is checked, then published when approved',
      request: {
        body: {
          content: {
            'application/json': {
              schema: z.record(z.string(), z.unknown()).meta({ description: 'package-lock.json' }),
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
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const actor = principalOf(c);
      const parsed = parseLockfile(JSON.parse(c.get('rawBody') ?? 'null'));
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
          lockfileVersion: parsed.lockfileVersion,
          project: parsed.name ?? null,
          packages,
          rejected: parsed.rejected,
          at: now(),
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
    const progress = progressOf(row.total, counts);
    return {
      id: row.id,
      status: progress.status,
      progress: { done: progress.done, total: progress.total },
      counts,
      lockfile_version: row.lockfile_version,
      project: row.project,
      packages_total: row.total,
      bundled: row.bundled,
      unsupported: parse(row.unsupported, []),
      requested_by: row.requested_by,
      created_at: iso(row.created_at)!,
    };
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/package-requests',
      tags: ['Packages'],
      summary: 'The tenant’s package requests, newest first, with status and progress',
      request: {
        query: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z.string().max(500).optional(),
        }),
      },
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
          })),
        },
        200,
      );
    },
  );

  return app;
}
