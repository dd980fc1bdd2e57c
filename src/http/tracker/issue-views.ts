import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { CommandResult } from '../../commands/kernel/index.ts';
import type { IssueState } from '../../commands/tracker/index.ts';
import type { IssueListTables } from '../../projections/tracker/index.ts';
import { type IssueSort, issuePage, searchWords, validSortKey } from '../../projections/tracker/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { decodeCursor, encodeCursor, etagOf, RequestError } from '../kit/index.ts';
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
