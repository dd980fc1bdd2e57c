import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { invalid, notFound } from '../../commands/kernel/errors.ts';
import {
  changeProject,
  createIssue,
  createProject,
  findProject,
  type ProjectState,
} from '../../commands/tracker/index.ts';
import type { IssueListTables } from '../../projections/tracker/issue-list.ts';
import type { ProjectListTables } from '../../projections/tracker/project-list.ts';
import { boardCounts, highestIssueNumber, projectPage } from '../../projections/tracker/queries.ts';
import type { AppEnv } from '../kit/env.ts';
import { commonProblems, IfMatchHeader, jsonContent, problemContent } from '../kit/openapi.ts';
import { decodeCursor, encodeCursor } from '../kit/pagination.ts';
import { etagOf } from '../kit/preconditions.ts';
import { validationHook } from '../kit/validation.ts';
import {
  actorOf,
  projectIdOf,
  type TrackerDeps,
  tenantOf,
  tenantUser,
  trackerContext,
  trackerProblems,
  writeProblems,
} from './index.ts';
import { listIssues, presentIssue } from './issues.ts';
import {
  CreateIssueBody,
  CreateProjectBody,
  Issue,
  IssueListQuery,
  IssueSummary,
  MemberBody,
  PatchProjectBody,
  Project,
  ProjectSummary,
} from './schemas.ts';

const ProjectParam = z.object({ id: z.string().max(60).meta({ description: 'Project id or key' }) });
const MemberParam = ProjectParam.extend({ userId: z.uuid() });
const ProjectListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
  archived: z.enum(['true', 'false']).optional(),
});

export function presentProject(state: ProjectState, revision: number) {
  return {
    id: state.projectId,
    key: state.key,
    name: state.name,
    description: state.description,
    labels: state.labels,
    archived: state.archived,
    members: Object.entries(state.members).map(([user_id, m]) => ({ user_id, email: m.email, role: m.role })),
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

/** Projects: create (the creator leads it), list, read, change, archive, members, board counts, and its issues. */
export function projectRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const projects = deps.db as unknown as Kysely<ProjectListTables>;
  const issues = deps.db as unknown as Kysely<IssueListTables>;
  const now = () => deps.clock().toISOString();
  const written = (c: Context<AppEnv>, state: ProjectState, revision: number, position: bigint) => {
    c.header('ETag', etagOf(revision));
    c.header('X-Position', position.toString());
    return { ...presentProject(state, revision), position: position.toString() };
  };
  const ProjectWritten = Project.extend({ position: z.string() });
  /** The project of the path in the request's tenant: another tenant's is a 404. */
  const project = async (c: Context<AppEnv>, idOrKey: string) => {
    const tenant = tenantOf(c);
    const found = await findProject(deps.store, tenant.id, await projectIdOf(tenant.id, idOrKey));
    if (!found) throw notFound('project');
    return { tenant, ...found };
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/projects',
      tags: ['Tracker'],
      summary: 'Create a project (its key is unique in the tenant; the creator becomes its lead)',
      request: { body: { content: { 'application/json': { schema: CreateProjectBody } }, required: true } },
      responses: { 201: jsonContent(ProjectWritten, 'Created'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const actor = actorOf(c);
      const body = c.req.valid('json');
      const lead = await tenantUser(deps.store, tenant.id, actor.userId);
      if (!lead) throw notFound('user');
      const result = await createProject(
        deps.store,
        { tenantId: tenant.id, ...body, leadId: actor.userId, leadEmail: lead.state.email, at: now() },
        trackerContext(c, tenant.id),
      );
      c.header('Location', `/v1/projects/${result.state.projectId}`);
      return c.json(written(c, result.state, result.revision, result.position), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects',
      tags: ['Tracker'],
      summary: 'List the tenant’s projects by key',
      request: { query: ProjectListQuery },
      responses: {
        200: jsonContent(
          z.object({ items: z.array(ProjectSummary), next_cursor: z.string().nullable() }),
          'A page',
        ),
        ...commonProblems,
        ...trackerProblems,
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['projectList']);
      const { rows, next } = await projectPage(projects, {
        tenantId: tenant.id,
        limit: query.limit,
        ...(query.archived ? { archived: query.archived === 'true' } : {}),
        ...(query.cursor ? { after: decodeCursor(query.cursor, 'key') } : {}),
      });
      return c.json(
        {
          items: rows.map((r) => ({
            id: r.id,
            key: r.key,
            name: r.name,
            description: r.description,
            labels: r.labels,
            archived: r.archived,
            member_count: r.members,
            created_at: new Date(r.created_at).toISOString(),
            updated_at: new Date(r.updated_at).toISOString(),
            revision: Number(r.revision),
          })),
          next_cursor: next ? encodeCursor('key', next.key, next.id) : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects/{id}',
      tags: ['Tracker'],
      summary: 'Read a project, with its members (from its events: always current)',
      request: { params: ProjectParam },
      responses: { 200: jsonContent(Project, 'The project'), ...commonProblems, ...trackerProblems },
    }),
    async (c) => {
      const found = await project(c, c.req.valid('param').id);
      c.header('ETag', etagOf(found.revision));
      return c.json(presentProject(found.state, found.revision), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/projects/{id}',
      tags: ['Tracker'],
      summary: 'Rename, describe or relabel a project (lead or tenant admin)',
      request: {
        params: ProjectParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: PatchProjectBody } }, required: true },
      },
      responses: { 200: jsonContent(ProjectWritten, 'Changed'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const found = await project(c, c.req.valid('param').id);
      const body = c.req.valid('json');
      const actor = actorOf(c);
      const at = now();
      const commands = [
        ...(body.name === undefined ? [] : [{ type: 'RenameProject' as const, name: body.name, actor, at }]),
        ...(body.description === undefined
          ? []
          : [{ type: 'DescribeProject' as const, description: body.description, actor, at }]),
        ...(body.labels === undefined
          ? []
          : [{ type: 'ChangeLabels' as const, labels: body.labels, actor, at }]),
      ];
      let result = { state: found.state, revision: found.revision, position: found.position };
      for (const [i, command] of commands.entries()) {
        // If-Match guards the first change; the rest build on it.
        result = await changeProject(
          deps.store,
          found.tenant.id,
          found.state.projectId,
          command,
          trackerContext(c, found.tenant.id, i === 0),
        );
      }
      return c.json(written(c, result.state, result.revision, result.position), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/projects/{id}',
      tags: ['Tracker'],
      summary: 'Archive a project (its issues stay readable and change no more)',
      request: { params: ProjectParam, headers: IfMatchHeader },
      responses: { 204: { description: 'Archived' }, ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const found = await project(c, c.req.valid('param').id);
      const result = await changeProject(
        deps.store,
        found.tenant.id,
        found.state.projectId,
        { type: 'ArchiveProject', actor: actorOf(c), at: now() },
        trackerContext(c, found.tenant.id),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/projects/{id}/members/{userId}',
      tags: ['Tracker'],
      summary: 'Add a tenant user to the project, or change their project role (lead, member, viewer)',
      request: {
        params: MemberParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: MemberBody } }, required: true },
      },
      responses: { 200: jsonContent(ProjectWritten, 'Set'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      const found = await project(c, id);
      const user = await tenantUser(deps.store, found.tenant.id, userId);
      if (!user) throw invalid([{ path: 'path.userId', message: 'not a user of this tenant' }]);
      const result = await changeProject(
        deps.store,
        found.tenant.id,
        found.state.projectId,
        {
          type: 'SetMember',
          userId,
          email: user.state.email,
          role: c.req.valid('json').role,
          actor: actorOf(c),
          at: now(),
        },
        trackerContext(c, found.tenant.id),
      );
      return c.json(written(c, result.state, result.revision, result.position), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/projects/{id}/members/{userId}',
      tags: ['Tracker'],
      summary: 'Take a user off the project',
      request: { params: MemberParam, headers: IfMatchHeader },
      responses: { 200: jsonContent(ProjectWritten, 'Removed'), ...commonProblems, ...writeProblems },
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      const found = await project(c, id);
      const result = await changeProject(
        deps.store,
        found.tenant.id,
        found.state.projectId,
        { type: 'RemoveMember', userId, actor: actorOf(c), at: now() },
        trackerContext(c, found.tenant.id),
      );
      return c.json(written(c, result.state, result.revision, result.position), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects/{id}/board',
      tags: ['Tracker'],
      summary: 'Issues per status (the board’s columns)',
      request: { params: ProjectParam },
      responses: {
        200: jsonContent(
          z.object({ counts: z.record(z.string(), z.number().int()), total: z.number().int() }),
          'Counts',
        ),
        ...commonProblems,
        ...trackerProblems,
      },
    }),
    async (c) => {
      const found = await project(c, c.req.valid('param').id);
      await deps.readModels.awaitPosition(c, ['issueList']);
      const counts = await boardCounts(issues, found.state.projectId);
      const all = Object.fromEntries(
        ['open', 'in_progress', 'in_review', 'resolved', 'closed'].map((s) => [s, counts[s] ?? 0]),
      );
      return c.json({ counts: all, total: Object.values(all).reduce((a, b) => a + b, 0) }, 200);
    },
  );

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
        trackerContext(c, found.tenant.id, false),
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
      // The page is read alongside the project check (both are scoped to the tenant): one round trip
      // of latency, not two; an unknown or foreign project still answers 404.
      const [found, page] = await Promise.all([
        findProject(deps.store, tenant.id, projectId),
        deps.readModels
          .awaitPosition(c, ['issueList'])
          .then(() => listIssues(issues, tenant.id, projectId, c.req.valid('query'))),
      ]);
      if (!found) throw notFound('project');
      return c.json(page, 200);
    },
  );

  return app;
}
