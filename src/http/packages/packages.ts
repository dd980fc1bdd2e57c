import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { invalid, notFound } from '../../commands/kernel/index.ts';
import {
  changePackage,
  loadPolicy,
  type PackageCommand,
  type PackageState,
  snapshotOf,
} from '../../commands/packages/index.ts';
import { packagePage, packageRow } from '../../projections/packages/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  callerContext,
  commonProblems,
  etagOf,
  IfMatchHeader,
  jsonContent,
  principalOf,
  readTables,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import {
  PackageList,
  PackageListQuery,
  PackageView,
  PackageWritten,
  ReasonBody,
  SpecParam,
  WaiverBody,
} from './schemas.ts';
import { type DB, type PackageRouteDeps, problems, writeProblems } from './scope.ts';
import { presentPackage } from './views.ts';

/** `name@version` from a path parameter; a scoped name keeps its leading `@`. */
function specOf(text: string): string {
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) {
    throw invalid([{ path: 'spec', message: 'must be name@version, URL-encoded' }]);
  }
  return text;
}

/** Packages: list and read them; approve, reject, waive a finding, retry. */
export function packageDecisionRoutes(deps: PackageRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const db = readTables<DB>(deps.db);
  const now = () => deps.clock().toISOString();

  const written = (c: Context<AppEnv>, state: PackageState, revision: number, position: bigint) => {
    c.header('ETag', etagOf(revision));
    c.header('X-Position', position.toString());
    return { spec: state.spec, status: state.status, revision, position: position.toString() };
  };

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
          callerContext(c, tenant.id),
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
      by: principalOf(c).userId,
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
      by: principalOf(c).userId,
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
      by: principalOf(c).userId,
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
    (c) => ({ type: 'Retry', by: principalOf(c).userId, at: now() }),
  );

  return app;
}
