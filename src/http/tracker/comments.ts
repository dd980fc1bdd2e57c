import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { notFound } from '../../commands/kernel/index.ts';
import { changeIssue } from '../../commands/tracker/index.ts';
import type { IssueListTables } from '../../projections/tracker/index.ts';
import { commentOf, commentsOf } from '../../projections/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  callerContext,
  commonProblems,
  etagOf,
  IfMatchHeader,
  jsonContent,
  readTables,
  validationHook,
} from '../kit/index.ts';
import { writtenIssue } from './issue-views.ts';
import { Comment, CommentBodySchema, Issue } from './schemas.ts';
import { actorOf, IssueParam, issueOf, type TrackerDeps, trackerProblems, writeProblems } from './scope.ts';

const CommentParam = IssueParam.extend({ commentId: z.uuid() });
const IssueWritten = Issue.extend({ position: z.string() });

/** An issue's comments: add, list, edit and delete (softly). */
export function commentRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const issues = readTables<IssueListTables>(deps.db);
  const now = () => deps.clock().toISOString();
  const issue = (c: Context<AppEnv>, idOrKey: string) => issueOf(deps, c, idOrKey);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/issues/{id}/comments',
      tags: ['Tracker'],
      summary: 'Comment on an issue (mentions of project members as @email are recorded)',
      request: {
        params: IssueParam,
        body: { content: { 'application/json': { schema: CommentBodySchema } }, required: true },
      },
      responses: {
        201: jsonContent(Comment.extend({ position: z.string() }), 'Added'),
        ...commonProblems,
        ...writeProblems,
      },
    }),
    async (c) => {
      const found = await issue(c, c.req.valid('param').id);
      const commentId = crypto.randomUUID();
      const at = now();
      const result = await changeIssue(
        deps.store,
        found.tenant.id,
        found.state.issueId,
        { type: 'AddComment', commentId, body: c.req.valid('json').body, actor: actorOf(c), at },
        callerContext(c, found.tenant.id, { ifMatch: false }),
      );
      const event = result.events[0]?.data as { mentions: string[]; authorId: string; body: string };
      c.header('Location', `/v1/issues/${found.state.issueId}/comments/${commentId}`);
      c.header('ETag', etagOf(result.revision));
      c.header('X-Position', result.position.toString());
      return c.json(
        {
          id: commentId,
          author_id: event.authorId,
          body: event.body,
          mentions: event.mentions,
          created_at: at,
          edited_at: null,
          position: result.position.toString(),
        },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/issues/{id}/comments',
      tags: ['Tracker'],
      summary: 'An issue’s comments, oldest first (deleted ones left out)',
      request: { params: IssueParam },
      responses: {
        200: jsonContent(z.object({ items: z.array(Comment) }), 'Comments'),
        ...commonProblems,
        ...trackerProblems,
      },
    }),
    async (c) => {
      const found = await issue(c, c.req.valid('param').id);
      await deps.readModels.awaitPosition(c, ['issueList']);
      const rows = await commentsOf(issues, found.state.issueId, false);
      return c.json(
        {
          items: rows.map((r) => ({
            id: r.id,
            author_id: r.author_id,
            body: r.body,
            mentions: r.mentions,
            created_at: new Date(r.created_at).toISOString(),
            edited_at: r.edited_at ? new Date(r.edited_at).toISOString() : null,
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/issues/{id}/comments/{commentId}',
      tags: ['Tracker'],
      summary: 'One comment (a deleted one is gone: 404)',
      request: { params: CommentParam },
      responses: { 200: jsonContent(Comment, 'The comment'), ...commonProblems, ...trackerProblems },
    }),
    async (c) => {
      const { id, commentId } = c.req.valid('param');
      const found = await issue(c, id);
      const added = found.events.find(
        (e) => e.type === 'CommentAdded' && (e.data as { commentId: string }).commentId === commentId,
      );
      const row = await deps.readModels.readOne(c, ['issueList'], { position: added?.position }, () =>
        commentOf(issues, found.state.issueId, commentId),
      );
      if (!row || row.deleted) throw notFound('comment');
      return c.json(
        {
          id: row.id,
          author_id: row.author_id,
          body: row.body,
          mentions: row.mentions,
          created_at: new Date(row.created_at).toISOString(),
          edited_at: row.edited_at ? new Date(row.edited_at).toISOString() : null,
        },
        200,
      );
    },
  );

  for (const method of ['patch', 'delete'] as const) {
    app.openapi(
      createRoute({
        method,
        path: '/v1/issues/{id}/comments/{commentId}',
        tags: ['Tracker'],
        summary:
          method === 'patch'
            ? 'Edit your comment (the old text stays in the history); If-Match makes a stale edit a 412'
            : 'Delete a comment (softly; recorded with who); If-Match makes a stale delete a 412',
        request: {
          params: CommentParam,
          headers: IfMatchHeader,
          ...(method === 'patch'
            ? { body: { content: { 'application/json': { schema: CommentBodySchema } }, required: true } }
            : {}),
        },
        responses: { 200: jsonContent(IssueWritten, 'Done'), ...commonProblems, ...writeProblems },
      }),
      async (c) => {
        const { id, commentId } = c.req.valid('param') as { id: string; commentId: string };
        const found = await issue(c, id);
        const actor = actorOf(c);
        const at = now();
        const command =
          method === 'patch'
            ? {
                type: 'EditComment' as const,
                commentId,
                // As validated (trimmed, checked), not as sent: the loop's route type has no `json`
                // for its delete, so the body is read through the same schema again.
                body: CommentBodySchema.parse(await c.req.json()).body,
                actor,
                at,
              }
            : { type: 'DeleteComment' as const, commentId, actor, at };
        const result = await changeIssue(
          deps.store,
          found.tenant.id,
          found.state.issueId,
          command,
          // If-Match (the issue's revision, as every write of it answers) makes a stale edit a 412.
          callerContext(c, found.tenant.id),
        );
        return c.json(writtenIssue(c, result), 200);
      },
    );
  }

  return app;
}
