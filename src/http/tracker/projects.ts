import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { notFound } from '../../commands/kernel/index.ts';
import { changeProject, createProject } from '../../commands/tracker/index.ts';
import type { IssueListTables, ProjectListTables } from '../../projections/tracker/index.ts';
import { boardCounts } from '../../projections/tracker/index.ts';
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
import { listProjects, ProjectWritten, presentProject, writtenProject } from './project-views.ts';
import { CreateProjectBody, PatchProjectBody, Project, ProjectListQuery, ProjectSummary } from './schemas.ts';
import {
  actorOf,
  ProjectParam,
  projectOf,
  type TrackerDeps,
  tenantUser,
  trackerProblems,
  writeProblems,
} from './scope.ts';

/** Projects: create (the creator leads it), list, read, change, archive, board counts (members and issues: their own files). */
export function projectRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const projects = readTables<ProjectListTables>(deps.db);
  const issues = readTables<IssueListTables>(deps.db);
  const now = () => deps.clock().toISOString();
  const project = (c: Context<AppEnv>, idOrKey: string) => projectOf(deps, c, idOrKey);

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
        callerContext(c, tenant.id),
      );
      c.header('Location', `/v1/projects/${result.state.projectId}`);
      return c.json(writtenProject(c, result.state, result.revision, result.position), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/projects',
      tags: ['Tracker'],
      summary: 'List the tenant’s projects: filters, sort, full-text q (ranked, prefix), keyset cursor',
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
      await deps.readModels.awaitPosition(c, ['projectList']);
      return c.json(await listProjects(projects, tenantOf(c).id, c.req.valid('query')), 200);
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
      // One decision, one append: a part refused (the project archived meanwhile) leaves none applied.
      const result = await changeProject(
        deps.store,
        found.tenant.id,
        found.state.projectId,
        { type: 'EditProject', ...body, actor: actorOf(c), at: now() },
        callerContext(c, found.tenant.id),
      );
      return c.json(writtenProject(c, result.state, result.revision, result.position), 200);
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
        callerContext(c, found.tenant.id),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
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

  return app;
}
