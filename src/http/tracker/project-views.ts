import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { ProjectState } from '../../commands/tracker/index.ts';
import { type ProjectListTables, type ProjectSort, projectPage } from '../../projections/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { encodeCursor, etagOf } from '../kit/index.ts';
import { listParams } from './list-params.ts';
import { Project, type ProjectListQuery } from './schemas.ts';

/** A project as the API shows it. */
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

export const ProjectWritten = Project.extend({ position: z.string() });

/** A changed project: its ETag and position in the headers, the project and position in the body. */
export function writtenProject(c: Context<AppEnv>, state: ProjectState, revision: number, position: bigint) {
  c.header('ETag', etagOf(revision));
  c.header('X-Position', position.toString());
  return { ...presentProject(state, revision), position: position.toString() };
}

/** `/v1/projects`: the issue list's filters, sorts, search and paging, on the tenant's projects. */
export async function listProjects(db: Kysely<ProjectListTables>, tenantId: string, query: ProjectListQuery) {
  const { scope, ...params } = listParams<ProjectSort>(query, 'key');
  const { rows, next } = await projectPage(db, {
    tenantId,
    ...(query.archived ? { archived: query.archived === 'true' } : {}),
    ...params,
    limit: query.limit,
  });
  return {
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
      ...(params.words ? { rank: Number(r.rank) } : {}),
    })),
    next_cursor: next ? encodeCursor(scope, next.key, next.id) : null,
  };
}
