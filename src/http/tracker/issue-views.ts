import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { CommandResult } from '../../commands/kernel/index.ts';
import type { IssueState } from '../../commands/tracker/index.ts';
import type { IssueListTables } from '../../projections/tracker/index.ts';
import { type IssueSort, issuePage } from '../../projections/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { encodeCursor, etagOf } from '../kit/index.ts';
import { listParams, split } from './list-params.ts';
import type { Issue, IssueListQuery } from './schemas.ts';

/** An issue as the API shows it. */
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

/** A changed issue: its ETag and position in the headers, the issue and position in the body. */
export function writtenIssue(
  c: Context<AppEnv>,
  result: Pick<CommandResult<IssueState>, 'state' | 'revision' | 'position'>,
) {
  c.header('ETag', etagOf(result.revision));
  c.header('X-Position', result.position.toString());
  return { ...presentIssue(result.state, result.revision), position: result.position.toString() };
}

/** The list behind both `/v1/issues` (the tenant) and `/v1/projects/{id}/issues`. */
export async function listIssues(
  db: Kysely<IssueListTables>,
  tenantId: string,
  projectId: string | undefined,
  query: IssueListQuery,
) {
  const { scope, words, ...params } = listParams<IssueSort>(query, '-created_at');
  const { rows, next } = await issuePage(db, {
    tenantId,
    ...(projectId ? { projectId } : {}),
    ...(query.status ? { status: split(query.status)! } : {}),
    ...(query.priority ? { priority: split(query.priority)! } : {}),
    ...(query.type ? { type: split(query.type)! } : {}),
    ...(query.assignee ? { assignee: query.assignee === 'none' ? null : query.assignee } : {}),
    ...(query.reporter ? { reporter: query.reporter } : {}),
    ...(words ? { words } : {}),
    ...params,
    limit: query.limit,
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
    next_cursor: next ? encodeCursor(scope, next.key, next.id) : null,
  };
}

function dateOnly(value: string | Date): string {
  return typeof value === 'string' ? value.slice(0, 10) : value.toISOString().slice(0, 10);
}
