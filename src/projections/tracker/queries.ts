import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { IssueListTables } from './issue-list.ts';
import {
  keysetPage,
  type SharedFilters,
  type SortKey,
  searchRank,
  sharedConditions,
  sortKeys,
} from './list-query.ts';

export const issueSorts = [
  'created_at',
  '-created_at',
  'updated_at',
  '-updated_at',
  'priority',
  '-priority',
  'due_date',
  '-due_date',
  'relevance',
] as const;
export type IssueSort = (typeof issueSorts)[number];

export interface IssueFilters extends SharedFilters {
  tenantId: string;
  projectId?: string;
  status?: readonly string[];
  priority?: readonly string[];
  type?: readonly string[];
  /** A user id, or null for unassigned issues. */
  assignee?: string | null;
  reporter?: string;
}

export interface IssuePageRequest extends IssueFilters {
  sort: IssueSort;
  limit: number;
  /** The last row of the previous page: its sort key (as text) and id. */
  after?: { key: string; id: string };
}

type DB = IssueListTables;
type Row = ExpressionBuilder<DB, 'issue_list'>;

/** The sort's key on `issue_list`. */
function issueSortKey(sort: IssueSort, words: readonly string[] | undefined): SortKey {
  const column = sort.replace(/^-/, '');
  switch (column) {
    case 'created_at':
    case 'updated_at':
      return sortKeys.time('issue_list', column, sort);
    case 'priority':
      return sortKeys.rank('issue_list', 'priority_rank', sort, 4);
    case 'due_date':
      return sortKeys.date('issue_list', 'due_key', sort);
    default:
      return sortKeys.relevance('issue_list', words ?? []);
  }
}

function filtered(eb: Row, f: IssueFilters): Expression<SqlBool> {
  const where: Expression<SqlBool>[] = [
    eb('issue_list.tenant_id', '=', f.tenantId),
    eb('issue_list.deleted', '=', false),
  ];
  if (f.projectId) where.push(eb('issue_list.project_id', '=', f.projectId));
  if (f.status?.length) where.push(eb('issue_list.status', 'in', [...f.status]));
  if (f.priority?.length) where.push(eb('issue_list.priority', 'in', [...f.priority]));
  if (f.type?.length) where.push(eb('issue_list.type', 'in', [...f.type]));
  if (f.assignee === null) where.push(eb('issue_list.assignee_id', 'is', null));
  else if (f.assignee) where.push(eb('issue_list.assignee_id', '=', f.assignee));
  if (f.reporter) where.push(eb('issue_list.reporter_id', '=', f.reporter));
  where.push(...sharedConditions('issue_list', f));
  return eb.and(where);
}

/**
 * One page of issues, by keyset: rows after the cursor in (sort key, id) order, so a page stays the
 * same while issues are added. The HTTP list and the benchmark's direct SQL both run this.
 */
export async function issuePage(db: Kysely<DB>, request: IssuePageRequest) {
  const query = db
    .selectFrom('issue_list')
    .select([
      'id',
      'project_id',
      'number',
      'key',
      'title',
      'type',
      'priority',
      'priority_rank',
      'status',
      'resolution',
      'duplicate_of',
      'labels',
      'assignee_id',
      'reporter_id',
      'due_date',
      'due_key',
      'created_at',
      'updated_at',
      'revision',
    ])
    .select(
      request.words?.length
        ? searchRank('issue_list', request.words).as('rank')
        : sql<number>`0::float8`.as('rank'),
    )
    .where((eb) => filtered(eb, request));
  return keysetPage(query, 'issue_list', issueSortKey(request.sort, request.words), request);
}

/** Issues per status in a project: the board's column counts (every status, zero included). */
export async function boardCounts(db: Kysely<DB>, projectId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('issue_list')
    .select(['status', (eb) => eb.fn.countAll<string>().as('count')])
    .where('project_id', '=', projectId)
    .where('deleted', '=', false)
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
}

/** The highest issue number the read model has seen for a project (0 if none): numbering probes from here. */
export async function highestIssueNumber(db: Kysely<DB>, projectId: string): Promise<number> {
  const row = await db
    .selectFrom('issue_list')
    .select((eb) => eb.fn.max('number').as('max'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(row?.max ?? 0);
}

export async function commentsOf(db: Kysely<DB>, issueId: string, includeDeleted: boolean) {
  let query = db.selectFrom('issue_comments').selectAll().where('issue_id', '=', issueId);
  if (!includeDeleted) query = query.where('deleted', '=', false);
  return query.orderBy('created_at').orderBy('id').limit(1000).execute();
}

export function commentOf(db: Kysely<DB>, issueId: string, commentId: string) {
  return db
    .selectFrom('issue_comments')
    .selectAll()
    .where('issue_id', '=', issueId)
    .where('id', '=', commentId)
    .executeTakeFirst();
}
