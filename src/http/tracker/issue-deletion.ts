import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { changeIssue, issueIdFor } from '../../commands/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { callerContext, commonProblems, jsonContent, validationHook } from '../kit/index.ts';
import { writtenIssue } from './issue-views.ts';
import { Issue } from './schemas.ts';
import { actorOf, issueOf, ProjectParam, projectOf, type TrackerDeps, writeProblems } from './scope.ts';

const NumberedIssueParam = ProjectParam.extend({
  number: z.coerce
    .number()
    .int()
    .min(1)
    .max(2_147_483_647)
    .meta({ description: 'The issue’s number in the project' }),
});
const IssueWritten = Issue.extend({ position: z.string() });

/**
 * Deleting an issue, softly, as Jira and Linear do it: only a tenant owner or admin may (rule
 * `issue_delete_admins`), the issue then answers 404 like one that never existed and leaves every
 * list and board count, but its events, history and number stay (the next issue does not reuse it)
 * and a restore brings it back as it was. Both are recorded in the audit trail with who did them.
 */
export function issueDeletionRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();
  const numbered = async (c: Context<AppEnv>, param: { id: string; number: number }) => {
    const project = await projectOf(deps, c, param.id);
    const issueId = await issueIdFor(project.state.projectId, param.number);
    return issueOf(deps, c, issueId, { deleted: true });
  };

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/projects/{id}/issues/{number}',
      tags: ['Tracker'],
      summary: 'Delete an issue (owners and admins; soft: restore brings it back, its number stays taken)',
      request: { params: NumberedIssueParam },
      responses: {
        204: { description: 'Deleted (or already deleted)' },
        ...commonProblems,
        ...writeProblems,
      },
    }),
    async (c) => {
      const found = await numbered(c, c.req.valid('param'));
      const result = await changeIssue(
        deps.store,
        found.tenant.id,
        found.state.issueId,
        { type: 'DeleteIssue', actor: actorOf(c), at: now() },
        callerContext(c, found.tenant.id, { ifMatch: false }),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/projects/{id}/issues/{number}/restore',
      tags: ['Tracker'],
      summary: 'Restore a deleted issue as it was (owners and admins)',
      request: { params: NumberedIssueParam },
      responses: { 200: jsonContent(IssueWritten, 'Restored'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const found = await numbered(c, c.req.valid('param'));
      const result = await changeIssue(
        deps.store,
        found.tenant.id,
        found.state.issueId,
        { type: 'RestoreIssue', actor: actorOf(c), at: now() },
        callerContext(c, found.tenant.id, { ifMatch: false }),
      );
      return c.json(writtenIssue(c, result), 200);
    },
  );

  return app;
}
