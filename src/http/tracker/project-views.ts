import type { Context } from 'hono';
import { z } from 'zod';
import type { ProjectState } from '../../commands/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { etagOf } from '../kit/index.ts';
import { Project } from './schemas.ts';

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
