import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { invalid } from '../../commands/kernel/index.ts';
import { changeProject } from '../../commands/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { callerContext, commonProblems, IfMatchHeader, jsonContent, validationHook } from '../kit/index.ts';
import { ProjectWritten, writtenProject } from './project-views.ts';
import { MemberBody } from './schemas.ts';
import { actorOf, ProjectParam, projectOf, type TrackerDeps, tenantUser, writeProblems } from './scope.ts';

const MemberParam = ProjectParam.extend({ userId: z.uuid() });

/** A project's members: add or change a member's project role, take a member off. */
export function memberRoutes(deps: TrackerDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();
  const project = (c: Context<AppEnv>, idOrKey: string) => projectOf(deps, c, idOrKey);

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
        callerContext(c, found.tenant.id),
      );
      return c.json(writtenProject(c, result.state, result.revision, result.position), 200);
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
        callerContext(c, found.tenant.id),
      );
      return c.json(writtenProject(c, result.state, result.revision, result.position), 200);
    },
  );

  return app;
}
