import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { invalid, notFound } from '../../commands/kernel/index.ts';
import {
  deleteSavedFilter,
  findProject,
  findSavedFilters,
  type SavedFilter,
  SavedFilterName,
  SavedFilterQuery,
  SavedFilterTarget,
  saveFilter,
} from '../../commands/tracker/index.ts';
import { type SavedFilterListTables, savedFiltersOf } from '../../projections/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  callerContext,
  commonProblems,
  jsonContent,
  keysetAfter,
  pageWithCursor,
  principalOf,
  problemContent,
  readTables,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { parseSavedQuery } from './saved-filter-query.ts';
import { projectIdOf, type TrackerDeps } from './scope.ts';

const SavedFilterView = z
  .object({
    id: z.uuid(),
    name: z.string(),
    target: SavedFilterTarget,
    project_id: z.uuid().nullable(),
    query: z.string().meta({ description: 'The list’s query string, in normal form' }),
    href: z.string().meta({ description: 'The list this filter opens: GET it with the same token' }),
    created_at: z.iso.datetime(),
  })
  .meta({ id: 'SavedFilter' });

const SaveFilterBody = z.strictObject({
  name: SavedFilterName,
  target: SavedFilterTarget,
  project_id: z
    .string()
    .max(60)
    .nullable()
    .default(null)
    .meta({ description: 'Project id or key: its issues (target issues only; none = the tenant’s issues)' }),
  query: SavedFilterQuery.default('').meta({
    description: 'The list’s query string (`status=open&sort=-priority`), checked as the list checks it',
  }),
});

const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional(),
  target: SavedFilterTarget.optional(),
});
const FilterParam = z.object({ id: z.uuid() });

const problems = {
  401: problemContent('No valid access token'),
  403: problemContent('The role may not read the tracker'),
  404: problemContent('No such saved filter of yours'),
};

function hrefOf(filter: { target: string; projectId: string | null; query: string }): string {
  const path =
    filter.target === 'projects'
      ? '/v1/projects'
      : filter.projectId
        ? `/v1/projects/${filter.projectId}/issues`
        : '/v1/issues';
  return filter.query ? `${path}?${filter.query}` : path;
}

const present = (
  f: Pick<SavedFilter, 'filterId' | 'name' | 'target' | 'projectId' | 'query' | 'createdAt'>,
) => ({
  id: f.filterId,
  name: f.name,
  target: f.target,
  project_id: f.projectId,
  query: f.query,
  href: hrefOf(f),
  created_at: new Date(f.createdAt).toISOString(),
});

/**
 * `/v1/saved-filters`: each user's own named queries of the issue and project lists. Only their owner
 * sees them (another user's is a 404); a query is saved only if its list would accept it.
 */
export function savedFilterRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const rows = readTables<SavedFilterListTables>(deps.db);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/saved-filters',
      tags: ['Tracker'],
      summary: 'Save a filter of the issue or project list (names unique per user, at most 100)',
      request: { body: { content: { 'application/json': { schema: SaveFilterBody } }, required: true } },
      responses: {
        201: jsonContent(SavedFilterView.extend({ position: z.string() }), 'Saved'),
        ...commonProblems,
        ...problems,
        409: problemContent('The name is taken, or the limit is reached (`rule`)'),
        422: problemContent('The project is not one of this tenant'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const owner = principalOf(c).userId;
      const body = c.req.valid('json');
      if (body.project_id !== null && body.target !== 'issues') {
        throw invalid([{ path: 'project_id', message: 'only a filter of issues names a project' }]);
      }
      const parsed = parseSavedQuery(body.target, body.query);
      if (!parsed.ok) throw invalid(parsed.errors);
      let projectId: string | null = null;
      if (body.project_id !== null) {
        const id = await projectIdOf(tenant.id, body.project_id).catch(() => undefined);
        const project = id ? await findProject(deps.store, tenant.id, id) : undefined;
        if (!project) throw invalid([{ path: 'project_id', message: 'not a project of this tenant' }]);
        projectId = project.state.projectId;
      }
      const filterId = crypto.randomUUID();
      const at = deps.clock().toISOString();
      const result = await saveFilter(
        deps.store,
        {
          filterId,
          tenantId: tenant.id,
          ownerId: owner,
          name: body.name,
          target: body.target,
          projectId,
          query: parsed.query,
          at,
        },
        callerContext(c, tenant.id, { ifMatch: false }),
      );
      const saved = result.state.filters[filterId];
      if (!saved) throw notFound('saved filter');
      c.header('Location', `/v1/saved-filters/${filterId}`);
      c.header('X-Position', result.position.toString());
      return c.json({ ...present(saved), position: result.position.toString() }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/saved-filters',
      tags: ['Tracker'],
      summary: 'Your saved filters, oldest first (keyset cursor)',
      request: { query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(SavedFilterView), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...problems,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['savedFilterList']);
      let select = savedFiltersOf(rows, {
        tenantId: tenantOf(c).id,
        ownerId: principalOf(c).userId,
        ...(query.target ? { target: query.target } : {}),
      });
      if (query.cursor) select = select.where(keysetAfter(query.cursor, 'created_at'));
      const found = await select
        .orderBy('created_at')
        .orderBy('id')
        .limit(query.limit + 1)
        .execute();
      const { page, next_cursor } = pageWithCursor(found, query.limit, 'created_at', (r) =>
        new Date(r.created_at).toISOString(),
      );
      const items = page.map((r) =>
        present({
          filterId: r.id,
          name: r.name,
          target: r.target as SavedFilter['target'],
          projectId: r.project_id,
          query: r.query,
          createdAt: new Date(r.created_at).toISOString(),
        }),
      );
      return c.json({ items, next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/saved-filters/{id}',
      tags: ['Tracker'],
      summary: 'One of your saved filters (from its events: always current)',
      request: { params: FilterParam },
      responses: { 200: jsonContent(SavedFilterView, 'The filter'), ...commonProblems, ...problems },
    }),
    async (c) => {
      const mine = await findSavedFilters(deps.store, tenantOf(c).id, principalOf(c).userId);
      const filter = mine?.state.filters[c.req.valid('param').id.toLowerCase()];
      if (!filter) throw notFound('saved filter');
      return c.json(present(filter), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/saved-filters/{id}',
      tags: ['Tracker'],
      summary: 'Delete one of your saved filters',
      request: { params: FilterParam },
      responses: { 204: { description: 'Deleted' }, ...commonProblems, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const result = await deleteSavedFilter(
        deps.store,
        {
          tenantId: tenant.id,
          ownerId: principalOf(c).userId,
          filterId: c.req.valid('param').id.toLowerCase(),
          at: deps.clock().toISOString(),
        },
        callerContext(c, tenant.id, { ifMatch: false }),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  return app;
}
