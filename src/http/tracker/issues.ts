import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { invalid, notFound } from '../../commands/kernel/errors.ts';
import type { CommandResult } from '../../commands/kernel/handle.ts';
import { changeIssue, findIssue, historyOf, type IssueState } from '../../commands/tracker/index.ts';
import type { IssueListTables } from '../../projections/tracker/issue-list.ts';
import {
  commentsOf,
  type IssueSort,
  issuePage,
  searchWords,
  validSortKey,
} from '../../projections/tracker/queries.ts';
import type { AppEnv } from '../kit/env.ts';
import { commonProblems, IfMatchHeader, jsonContent } from '../kit/openapi.ts';
import { decodeCursor, encodeCursor } from '../kit/pagination.ts';
import { etagOf } from '../kit/preconditions.ts';
import { RequestError } from '../kit/problem.ts';
import { validationHook } from '../kit/validation.ts';
import {
  actorOf,
  issueIdOf,
  type TrackerDeps,
  tenantOf,
  tenantUser,
  trackerContext,
  trackerProblems,
  writeProblems,
} from './index.ts';
import {
  Comment,
  CommentBodySchema,
  Issue,
  IssueListQuery,
  IssueSummary,
  PatchIssueBody,
  TransitionBody,
} from './schemas.ts';

const IssueParam = z.object({ id: z.string().max(60).meta({ description: 'Issue id or key (WARD-42)' }) });
const CommentParam = IssueParam.extend({ commentId: z.uuid() });
const IssueWritten = Issue.extend({ position: z.string() });

export function presentIssue(state: IssueState, revision: number) {
  return {
    id: state.issueId,
    key: state.key,
    number: state.number,
    project_id: state.projectId,
    title: state.title,
    description: state.description,
    type: state.type,
    priority: state.priority,
    labels: state.labels,
    status: state.status,
    resolution: state.resolution,
    duplicate_of: state.duplicateOf,
    assignee_id: state.assigneeId,
    reporter_id: state.reporterId,
    due_date: state.dueDate,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

const split = (value: string | undefined) => (value ? value.split(',') : undefined);
const instant = (value: string | undefined) => (value ? new Date(value) : undefined);

/** The list behind both `/v1/issues` (the tenant) and `/v1/projects/{id}/issues`. */
export async function listIssues(
  db: Kysely<IssueListTables>,
  tenantId: string,
  projectId: string | undefined,
  query: IssueListQuery,
) {
  const words = query.q ? searchWords(query.q) : undefined;
  if (query.q && words?.length === 0) {
    throw new RequestError(400, 'validation', 'q has no words to search for', [
      { path: 'query.q', message: 'needs at least one letter or digit' },
    ]);
  }
  const sort: IssueSort = query.sort ?? (words ? 'relevance' : '-created_at');
  if (sort === 'relevance' && !words) {
    throw new RequestError(400, 'validation', 'sort=relevance needs q', [
      { path: 'query.sort', message: 'relevance sorts a search: send q' },
    ]);
  }
  let after: { key: string; id: string } | undefined;
  if (query.cursor) {
    after = decodeCursor(query.cursor, `${sort}|${query.q ?? ''}`);
    if (!validSortKey(sort, after.key) || !z.uuid().safeParse(after.id).success) {
      throw new RequestError(400, 'bad-cursor', 'cursor is not one this list handed out', [
        { path: 'query.cursor', message: 'invalid cursor' },
      ]);
    }
  }
  const { rows, next } = await issuePage(db, {
    tenantId,
    ...(projectId ? { projectId } : {}),
    ...(query.status ? { status: split(query.status)! } : {}),
    ...(query.priority ? { priority: split(query.priority)! } : {}),
    ...(query.type ? { type: split(query.type)! } : {}),
    ...(query.assignee ? { assignee: query.assignee === 'none' ? null : query.assignee } : {}),
    ...(query.reporter ? { reporter: query.reporter } : {}),
    ...(query.label ? { labels: split(query.label)! } : {}),
    ...(query.created_from ? { createdFrom: instant(query.created_from)! } : {}),
    ...(query.created_to ? { createdTo: instant(query.created_to)! } : {}),
    ...(query.updated_from ? { updatedFrom: instant(query.updated_from)! } : {}),
    ...(query.updated_to ? { updatedTo: instant(query.updated_to)! } : {}),
    ...(words ? { words } : {}),
    sort,
    limit: query.limit,
    ...(after ? { after } : {}),
  });
  return {
    items: rows.map((r) => ({
      id: r.id,
      key: r.key,
      number: r.number,
      project_id: r.project_id,
      title: r.title,
      type: r.type as z.infer<typeof Issue>['type'],
      priority: r.priority as z.infer<typeof Issue>['priority'],
      labels: r.labels,
      status: r.status as z.infer<typeof Issue>['status'],
      resolution: r.resolution as z.infer<typeof Issue>['resolution'],
      duplicate_of: r.duplicate_of,
      assignee_id: r.assignee_id,
      reporter_id: r.reporter_id,
      due_date: r.due_date === null ? null : dateOnly(r.due_date),
      created_at: new Date(r.created_at).toISOString(),
      updated_at: new Date(r.updated_at).toISOString(),
      revision: Number(r.revision),
      ...(words ? { rank: Number(r.rank) } : {}),
    })),
    next_cursor: next ? encodeCursor(`${sort}|${query.q ?? ''}`, next.key, next.id) : null,
  };
}

function dateOnly(value: string | Date): string {
  return typeof value === 'string' ? value.slice(0, 10) : value.toISOString().slice(0, 10);
}

/** Issues: the tenant-wide list, read, edit and assign, transitions, history, comments. */
export function issueRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const issues = deps.db as unknown as Kysely<IssueListTables>;
  const now = () => deps.clock().toISOString();
  const written = (
    c: Context<AppEnv>,
    result: Pick<CommandResult<IssueState>, 'state' | 'revision' | 'position'>,
  ) => {
    c.header('ETag', etagOf(result.revision));
    c.header('X-Position', result.position.toString());
    return { ...presentIssue(result.state, result.revision), position: result.position.toString() };
  };
  /** The issue of the path in the request's tenant: another tenant's is a 404. */
  const issue = async (c: Context<AppEnv>, idOrKey: string) => {
    const tenant = tenantOf(c);
    const id = await issueIdOf(tenant.id, idOrKey);
    const found = id ? await findIssue(deps.store, tenant.id, id) : undefined;
    if (!found) throw notFound('issue');
    return { tenant, ...found };
  };

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
      let result: Pick<CommandResult<IssueState>, 'state' | 'revision' | 'position'> = {
        state: found.state,
        revision: found.revision,
        position: found.events.at(-1)?.position ?? 0n,
      };
      let first = true;
      if (Object.keys(changes).length > 0) {
        result = await changeIssue(
          deps.store,
          found.tenant.id,
          found.state.issueId,
          { type: 'EditIssue', changes, actor, at },
          trackerContext(c, found.tenant.id),
        );
        first = false;
      }
      if (assignee_id !== undefined) {
        result = await changeIssue(
          deps.store,
          found.tenant.id,
          found.state.issueId,
          { type: 'AssignIssue', assigneeId: assignee_id, actor, at },
          trackerContext(c, found.tenant.id, first),
        );
      }
      return c.json(written(c, result), 200);
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
          found: original ? { projectId: original.state.projectId } : null,
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
        trackerContext(c, found.tenant.id),
      );
      return c.json(written(c, result), 200);
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
        trackerContext(c, found.tenant.id, false),
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

  for (const method of ['patch', 'delete'] as const) {
    app.openapi(
      createRoute({
        method,
        path: '/v1/issues/{id}/comments/{commentId}',
        tags: ['Tracker'],
        summary:
          method === 'patch'
            ? 'Edit your comment (the old text stays in the history)'
            : 'Delete a comment (softly; recorded with who)',
        request: {
          params: CommentParam,
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
                body: ((await c.req.json()) as { body: string }).body,
                actor,
                at,
              }
            : { type: 'DeleteComment' as const, commentId, actor, at };
        const result = await changeIssue(
          deps.store,
          found.tenant.id,
          found.state.issueId,
          command,
          trackerContext(c, found.tenant.id, false),
        );
        return c.json(written(c, result), 200);
      },
    );
  }

  return app;
}
