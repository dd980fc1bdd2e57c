import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { invalid } from '../../commands/kernel/index.ts';
import { changeIssue, findIssue, historyOf } from '../../commands/tracker/index.ts';
import type { IssueListTables } from '../../projections/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  callerContext,
  commonProblems,
  etagOf,
  IfMatchHeader,
  jsonContent,
  readTables,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { listIssues, presentIssue, writtenIssue } from './issue-views.ts';
import { Issue, IssueListQuery, IssueSummary, PatchIssueBody, TransitionBody } from './schemas.ts';
import {
  actorOf,
  IssueParam,
  issueIdOf,
  issueOf,
  type TrackerDeps,
  tenantUser,
  trackerProblems,
  writeProblems,
} from './scope.ts';

const IssueWritten = Issue.extend({ position: z.string() });

/** Issues: the tenant-wide list, read, edit and assign, transitions, history (comments: comments.ts). */
export function issueRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const issues = readTables<IssueListTables>(deps.db);
  const now = () => deps.clock().toISOString();
  const issue = (c: Context<AppEnv>, idOrKey: string) => issueOf(deps, c, idOrKey);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/issues',
      tags: ['Tracker'],
      summary: 'List issues across the tenant’s projects: filters, sort, full-text q, keyset cursor',
      request: { query: IssueListQuery },
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
      await deps.readModels.awaitPosition(c, ['issueList']);
      return c.json(await listIssues(issues, tenant.id, undefined, c.req.valid('query')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/issues/{id}',
      tags: ['Tracker'],
      summary: 'Read an issue by id or key (from its events: always current)',
      request: { params: IssueParam },
      responses: { 200: jsonContent(Issue, 'The issue'), ...commonProblems, ...trackerProblems },
    }),
    async (c) => {
      const found = await issue(c, c.req.valid('param').id);
      c.header('ETag', etagOf(found.revision));
      return c.json(presentIssue(found.state, found.revision), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/issues/{id}',
      tags: ['Tracker'],
      summary: 'Edit fields or (un)assign; If-Match makes a stale edit a 412',
      request: {
        params: IssueParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: PatchIssueBody } }, required: true },
      },
      responses: { 200: jsonContent(IssueWritten, 'Changed'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const found = await issue(c, c.req.valid('param').id);
      const body = c.req.valid('json');
      const actor = actorOf(c);
      const at = now();
      const { assignee_id, due_date, ...rest } = body;
      const changes = {
        ...(rest.title === undefined ? {} : { title: rest.title }),
        ...(rest.description === undefined ? {} : { description: rest.description }),
        ...(rest.type === undefined ? {} : { type: rest.type }),
        ...(rest.priority === undefined ? {} : { priority: rest.priority }),
        ...(rest.labels === undefined ? {} : { labels: rest.labels }),
        ...(due_date === undefined ? {} : { dueDate: due_date }),
      };
      if (assignee_id && !(await tenantUser(deps.store, found.tenant.id, assignee_id))) {
        throw invalid([{ path: 'assignee_id', message: 'not a user of this tenant' }]);
      }
      // One command: the edit and the (un)assignment are recorded together, or neither is.
      const result = await changeIssue(
        deps.store,
        found.tenant.id,
        found.state.issueId,
        {
          type: 'EditIssue',
          changes,
          ...(assignee_id === undefined ? {} : { assigneeId: assignee_id }),
          actor,
          at,
        },
        callerContext(c, found.tenant.id),
      );
      return c.json(writtenIssue(c, result), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/issues/{id}/transitions',
      tags: ['Tracker'],
      summary: 'Move an issue through the state machine (409 naming the rule when refused)',
      request: {
        params: IssueParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: TransitionBody } }, required: true },
      },
      responses: { 200: jsonContent(IssueWritten, 'Moved'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const found = await issue(c, c.req.valid('param').id);
      const body = c.req.valid('json');
      let duplicateOf: { issueId: string; found: { projectId: string } | null } | undefined;
      if (body.duplicate_of !== undefined) {
        const id = await issueIdOf(found.tenant.id, body.duplicate_of);
        const original = id ? await findIssue(deps.store, found.tenant.id, id) : undefined;
        duplicateOf = {
          issueId: id ?? body.duplicate_of,
          // A deleted issue is gone, as for reads: no issue links to it.
          found: original && !original.state.deleted ? { projectId: original.state.projectId } : null,
        };
      }
      const result = await changeIssue(
        deps.store,
        found.tenant.id,
        found.state.issueId,
        {
          type: 'TransitionIssue',
          to: body.to,
          ...(body.resolution ? { resolution: body.resolution } : {}),
          ...(duplicateOf ? { duplicateOf } : {}),
          actor: actorOf(c),
          at: now(),
        },
        callerContext(c, found.tenant.id),
      );
      return c.json(writtenIssue(c, result), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/issues/{id}/history',
      tags: ['Tracker'],
      summary: 'Every change of the issue, from its events: what, who and when',
      request: { params: IssueParam },
      responses: {
        200: jsonContent(
          z.object({
            items: z.array(
              z.object({
                revision: z.number().int(),
                type: z.string(),
                at: z.string(),
                actor_id: z.string().nullable(),
                data: z.record(z.string(), z.unknown()),
              }),
            ),
          }),
          'The history',
        ),
        ...commonProblems,
        ...trackerProblems,
      },
    }),
    async (c) => {
      const found = await issue(c, c.req.valid('param').id);
      return c.json(
        { items: historyOf(found.events).map(({ actorId, ...entry }) => ({ ...entry, actor_id: actorId })) },
        200,
      );
    },
  );

  return app;
}
