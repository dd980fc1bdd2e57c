import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { invalid, notFound } from '../../commands/kernel/errors.ts';
import {
  changePackage,
  type Finding,
  loadPolicy,
  type PackageCommand,
  type PackageState,
  PolicyBody,
  setPolicy,
  snapshotOf,
  submitRequest,
} from '../../commands/packages/index.ts';
import { MAX_LOCKFILE_PACKAGES, parseLockfile } from '../../packages/lockfile.ts';
import type { PackageListTable, PackageListTables } from '../../projections/packages/package-list.ts';
import type { PackageRequestTables } from '../../projections/packages/package-requests.ts';
import {
  packagePage,
  packageRow,
  progressOf,
  requestCounts,
  requestItems,
  requestPage,
  requestRow,
} from '../../projections/packages/queries.ts';
import { commandContext } from '../kit/command-context.ts';
import type { AppEnv } from '../kit/env.ts';
import { commonProblems, IfMatchHeader, jsonContent, problemContent } from '../kit/openapi.ts';
import { etagOf } from '../kit/preconditions.ts';
import { validationHook } from '../kit/validation.ts';
import { requirePermission } from '../middleware/authorize.ts';
import { actorOf, type TrackerRouteDeps, tenantOf, trackerContext } from '../tracker/index.ts';
import {
  PackageList,
  PackageListQuery,
  PackageView,
  PackageWritten,
  PolicyView,
  ReasonBody,
  RequestParam,
  RequestSummary,
  RequestView,
  SpecParam,
  Submitted,
  WaiverBody,
} from './schemas.ts';

type DB = PackageListTables & PackageRequestTables;

const problems = {
  401: problemContent('No valid access token'),
  403: problemContent('The role may not do this'),
  404: problemContent('No such package or request in this tenant'),
};
const writeProblems = {
  ...problems,
  409: problemContent('The package is not in a state that allows it, or a rule refuses it (`rule`)'),
  412: problemContent('If-Match does not match the current revision'),
};

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());
const parse = <T>(value: unknown, fallback: T): T =>
  value === null || value === undefined
    ? fallback
    : ((typeof value === 'string' ? JSON.parse(value) : value) as T);

export function presentPackage(row: PackageListTable): z.infer<typeof PackageView> {
  return {
    spec: row.spec,
    name: row.name,
    version: row.version,
    status: row.status as z.infer<typeof PackageView>['status'],
    license: row.license,
    lockfile_license: row.lockfile_license,
    integrity: row.integrity,
    size: row.size,
    findings: parse<Finding[]>(row.findings, []),
    max_severity: row.max_severity,
    reasons: row.reasons,
    warnings: row.warnings,
    waivers: parse(row.waivers, {}),
    attention: row.attention,
    decision: row.decided_by
      ? {
          by: row.decided_by,
          reason: row.reason ?? '',
          policy_version: row.policy_version,
          at: iso(row.decided_at),
        }
      : null,
    failure: parse(row.failure, null),
    reason: row.reason,
    request_id: row.request_id,
    received_at: iso(row.received_at)!,
    updated_at: iso(row.updated_at)!,
    revision: Number(row.revision),
  };
}

/** `name@version` from a path parameter; a scoped name keeps its leading `@`. */
function specOf(text: string): string {
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) {
    throw invalid([{ path: 'spec', message: 'must be name@version, URL-encoded' }]);
  }
  return text;
}

/**
 * The package firewall's HTTP surface: submit a lockfile, follow the request, list and read
 * packages, approve / reject / waive / retry, and the tenant's policy.
 */
export function packageRoutes(deps: TrackerRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = deps.db as unknown as Kysely<DB>;
  const now = () => deps.clock().toISOString();
  app.on(
    'GET',
    ['/v1/package-requests', '/v1/package-requests/*', '/v1/packages', '/v1/packages/*', '/v1/policy'],
    requirePermission('packages:read'),
  );
  app.on('POST', '/v1/package-requests', requirePermission('packages:request'));
  app.on('POST', '/v1/packages/*', requirePermission('packages:approve'));
  app.on('PUT', '/v1/policy', requirePermission('packages:approve'));

  const written = (c: Context<AppEnv>, state: PackageState, revision: number, position: bigint) => {
    c.header('ETag', etagOf(revision));
    c.header('X-Position', position.toString());
    return { spec: state.spec, status: state.status, revision, position: position.toString() };
  };

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
      const actor = actorOf(c);
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
        trackerContext(c, tenant.id, false),
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
      await deps.readModels.awaitPosition(c, ['packageRequests', 'packageList']);
      const row = await requestRow(db, tenant.id, id);
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

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/packages',
      tags: ['Packages'],
      summary:
        'The tenant’s packages, newest first: filter by status, license, severity, attention; `q` searches names',
      request: { query: PackageListQuery },
      responses: { 200: jsonContent(PackageList, 'A page'), ...commonProblems, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['packageList']);
      const { page, next_cursor } = await packagePage(db, {
        tenantId: tenant.id,
        limit: query.limit,
        ...(query.status ? { status: query.status } : {}),
        ...(query.license ? { license: query.license } : {}),
        ...(query.severity ? { severity: query.severity } : {}),
        ...(query.attention ? { attention: query.attention === 'true' } : {}),
        ...(query.q ? { q: query.q } : {}),
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return c.json({ items: page.map(presentPackage), next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/packages/{spec}',
      tags: ['Packages'],
      summary: 'One package: status, license, findings, waivers, decision',
      request: { params: SpecParam },
      responses: { 200: jsonContent(PackageView, 'The package'), ...commonProblems, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const spec = specOf(c.req.valid('param').spec);
      await deps.readModels.awaitPosition(c, ['packageList']);
      const row = await packageRow(db, tenant.id, spec);
      if (!row) throw notFound('package');
      c.header('ETag', etagOf(Number(row.revision)));
      return c.json(presentPackage(row), 200);
    },
  );

  const action = (
    path: string,
    summaryText: string,
    body: z.ZodType,
    toCommand: (
      c: Context<AppEnv>,
      input: Record<string, string>,
      policy: ReturnType<typeof snapshotOf>,
    ) => Exclude<PackageCommand, { type: 'ReceivePackage' }>,
  ) =>
    app.openapi(
      createRoute({
        method: 'post',
        path,
        tags: ['Packages'],
        summary: summaryText,
        request: {
          params: SpecParam,
          headers: IfMatchHeader,
          body: { content: { 'application/json': { schema: body } }, required: true },
        },
        responses: { 200: jsonContent(PackageWritten, 'Done'), ...commonProblems, ...writeProblems },
      }),
      async (c) => {
        const tenant = tenantOf(c);
        const spec = specOf(c.req.valid('param').spec);
        const input = c.req.valid('json' as never) as Record<string, string>;
        const policy = snapshotOf((await loadPolicy(deps.store, tenant.id)).state);
        const result = await changePackage(
          deps.store,
          tenant.id,
          spec,
          toCommand(c, input, policy),
          trackerContext(c, tenant.id),
        );
        return c.json(written(c, result.state, result.revision, result.position), 200);
      },
    );

  action(
    '/v1/packages/{spec}/approve',
    'Approve a package waiting for approval (packages:approve)',
    ReasonBody,
    (c, input, policy) => ({
      type: 'Approve',
      by: actorOf(c).userId,
      reason: input.reason!,
      policy,
      at: now(),
    }),
  );
  action(
    '/v1/packages/{spec}/reject',
    'Reject a package (waiting, approved not yet published, or failed)',
    ReasonBody,
    (c, input, policy) => ({
      type: 'Reject',
      by: actorOf(c).userId,
      reason: input.reason!,
      policy,
      at: now(),
    }),
  );
  action(
    '/v1/packages/{spec}/waivers',
    'Waive one finding until a date; a package that no longer has blocking findings moves on',
    WaiverBody,
    (c, input, policy) => ({
      type: 'Waive',
      findingId: input.finding_id!,
      by: actorOf(c).userId,
      reason: input.reason!,
      expiresAt: new Date(input.expires_at!).toISOString(),
      policy,
      at: now(),
    }),
  );
  action(
    '/v1/packages/{spec}/retry',
    'Send a failed package back into the pipeline (or re-scan one waiting for approval)',
    z.strictObject({}),
    (c) => ({ type: 'Retry', by: actorOf(c).userId, at: now() }),
  );

  const policyView = (state: Awaited<ReturnType<typeof loadPolicy>>['state']) => ({
    version: state.version,
    policy: state.policy,
    updated_by: state.updatedBy,
    updated_at: state.updatedAt,
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/policy',
      tags: ['Packages'],
      summary: 'The tenant’s package policy (version 0 is the default)',
      responses: { 200: jsonContent(PolicyView, 'The policy'), ...commonProblems, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const loaded = await loadPolicy(deps.store, tenant.id);
      // The policy's version is its entity tag: version 0 (the default) has no stream yet.
      c.header('ETag', etagOf(loaded.state.version));
      return c.json(policyView(loaded.state), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/policy',
      tags: ['Packages'],
      summary: 'Replace the package policy: a new version; decisions from now on name it',
      request: {
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: PolicyBody } }, required: true },
      },
      responses: { 200: jsonContent(PolicyView, 'The new policy'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const context = commandContext(c, { tenantId: tenant.id, actorId: actorOf(c).userId });
      const result = await setPolicy(
        deps.store,
        { tenantId: tenant.id, policy: c.req.valid('json'), by: actorOf(c).userId, at: now() },
        // Version n is the stream's revision n - 1.
        context.expectedRevision === undefined
          ? context
          : { ...context, expectedRevision: context.expectedRevision - 1 },
      );
      c.header('ETag', etagOf(result.state.version));
      c.header('X-Position', result.position.toString());
      return c.json(policyView({ ...result.state, tenantId: tenant.id }), 200);
    },
  );

  return app;
}

export { MAX_LOCKFILE_PACKAGES };
