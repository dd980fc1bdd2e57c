import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { invalid, notFound } from '../../commands/kernel/index.ts';
import { createIssue, findProject } from '../../commands/tracker/index.ts';
import type { IssueListTables } from '../../projections/tracker/index.ts';
import { highestIssueNumber } from '../../projections/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  callerContext,
  commonProblems,
  etagOf,
  jsonContent,
  problemContent,
  readTables,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { listIssues, presentIssue } from './issue-views.ts';
import { CreateIssueBody, Issue, IssueListQuery, IssueSummary } from './schemas.ts';
import {
  actorOf,
  ProjectParam,
  projectIdOf,
  projectOf,
  type TrackerDeps,
  tenantUser,
  trackerProblems,
  writeProblems,
} from './scope.ts';

/** A project's issues: create one (numbered KEY-n) and list them. */
export function projectIssueRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const issues = readTables<IssueListTables>(deps.db);
  const now = () => deps.clock().toISOString();
  const project = (c: Context<AppEnv>, idOrKey: string) => projectOf(deps, c, idOrKey);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/projects/{id}/issues',
      tags: ['Tracker'],
      summary: 'Create an issue: numbered KEY-n, without gaps or duplicates',
      request: {
        params: ProjectParam,
        body: { content: { 'application/json': { schema: CreateIssueBody } }, required: true },
      },
      responses: {
        201: jsonContent(Issue.extend({ position: z.string() }), 'Created'),
        ...commonProblems,
        ...writeProblems,
        413: problemContent('Body too large (descriptions are limited; see the schema)'),
      },
    }),
    async (c) => {
      const found = await project(c, c.req.valid('param').id);
      const body = c.req.valid('json');
      if (body.assignee_id && !(await tenantUser(deps.store, found.tenant.id, body.assignee_id))) {
        throw invalid([{ path: 'assignee_id', message: 'not a user of this tenant' }]);
      }
      const result = await createIssue(
        deps.store,
        {
          tenantId: found.tenant.id,
          projectId: found.state.projectId,
          actor: actorOf(c),
          assigneeId: body.assignee_id,
          fields: {
            title: body.title,
            description: body.description,
            type: body.type,
            priority: body.priority,
            labels: body.labels,
            dueDate: body.due_date,
          },
          at: now(),
          knownTaken: await highestIssueNumber(issues, found.state.projectId),
        },
        callerContext(c, found.tenant.id, { ifMatch: false }),
        deps.hints,
      );
      c.header('Location', `/v1/issues/${result.state.issueId}`);
      c.header('ETag', etagOf(result.revision));
      c.header('X-Position', result.position.toString());
      return c.json(
        { ...presentIssue(result.state, result.revision), position: result.position.toString() },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects/{id}/issues',
      tags: ['Tracker'],
      summary: 'List a project’s issues: filters, sort, full-text q (ranked, prefix), keyset cursor',
      request: { params: ProjectParam, query: IssueListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(IssueSummary), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...trackerProblems,
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const projectId = await projectIdOf(tenant.id, c.req.valid('param').id);
      await deps.readModels.awaitPosition(c, ['issueList']);
      const page = await listIssues(issues, tenant.id, projectId, c.req.valid('query'));
      // Rows of the project in the caller's tenant show that it exists there (the page is scoped to
      // both, and projects are never deleted); only an empty page needs the project's own stream to
      // tell an unknown or foreign project (404) from one with no such issues. Read every time, it
      // cost two more queries a page (the stream, then the keys that open its lead's email).
      if (page.items.length === 0 && !(await findProject(deps.store, tenant.id, projectId))) {
        throw notFound('project');
      }
      return c.json(page, 200);
    },
  );

  return app;
}
