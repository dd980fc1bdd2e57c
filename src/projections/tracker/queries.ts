import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { IssueListTables } from './issue-list.ts';
import type { ProjectListTables } from './project-list.ts';

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

export interface IssueFilters {
  tenantId: string;
  projectId?: string;
  status?: readonly string[];
  priority?: readonly string[];
  type?: readonly string[];
  /** A user id, or null for unassigned issues. */
  assignee?: string | null;
  reporter?: string;
  /** Issues carrying every one of these labels. */
  labels?: readonly string[];
  createdFrom?: Date;
  createdTo?: Date;
  updatedFrom?: Date;
  updatedTo?: Date;
  /** Words of a full-text query; each matches as a prefix. */
  words?: readonly string[];
}

export interface IssuePageRequest extends IssueFilters {
  sort: IssueSort;
  limit: number;
  /** The last row of the previous page: its sort key (as text) and id. */
  after?: { key: string; id: string };
}

type DB = IssueListTables;
type Row = ExpressionBuilder<DB, 'issue_list'>;

/** Up to eight words (letters and digits) of a search box: everything else is a separator. */
export function searchWords(q: string): string[] {
  return (q.match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 8).map((w) => w.toLowerCase());
}

/** `deploy fail` → `deploy:* & fail:*`: every word must match, each as a prefix. Built from words only, so no tsquery syntax gets through. */
const tsquery = (words: readonly string[]) =>
  sql`to_tsquery('english'::regconfig, ${words.map((w) => `${w}:*`).join(' & ')})`;

const rank = (words: readonly string[]) => sql<number>`ts_rank(search, ${tsquery(words)})::float8`;

/** The sort expression and how a cursor's text key becomes a typed value. */
function sortKey(sort: IssueSort, words: readonly string[] | undefined) {
  const column = sort.replace(/^-/, '');
  const direction: 'asc' | 'desc' = sort.startsWith('-') || sort === 'relevance' ? 'desc' : 'asc';
  switch (column) {
    case 'created_at':
    case 'updated_at':
      return {
        expr: sql.ref(`issue_list.${column}`),
        direction,
        cast: (key: string) => sql`${new Date(key)}::timestamptz`,
        keyOf: (r: { created_at: Date; updated_at: Date }) => new Date(r[column]).toISOString(),
      };
    case 'priority':
      return {
        expr: sql.ref('issue_list.priority_rank'),
        direction,
        cast: (key: string) => sql`${Number(key)}::smallint`,
        keyOf: (r: { priority_rank: number }) => String(r.priority_rank),
      };
    case 'due_date':
      return {
        expr: sql.ref('issue_list.due_key'),
        direction,
        cast: (key: string) => sql`${key}::date`,
        keyOf: (r: { due_key: string | Date }) => dateText(r.due_key),
      };
    default:
      return {
        expr: rank(words ?? []),
        direction,
        cast: (key: string) => sql`${Number(key)}::float8`,
        keyOf: (r: { rank: number }) => String(r.rank),
      };
  }
}

function dateText(value: string | Date): string {
  if (typeof value === 'string') return value;
  return Number.isFinite(value.getTime()) ? value.toISOString().slice(0, 10) : 'infinity';
}

/** Is this cursor key valid for the sort (so a forged cursor is a 400, not a database error)? */
export function validSortKey(sort: IssueSort, key: string): boolean {
  if (sort.endsWith('created_at') || sort.endsWith('updated_at'))
    return !Number.isNaN(new Date(key).getTime());
  if (sort.endsWith('priority')) return /^[0-4]$/.test(key);
  if (sort.endsWith('due_date')) return key === 'infinity' || /^\d{4}-\d{2}-\d{2}$/.test(key);
  return Number.isFinite(Number(key));
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
  if (f.labels?.length) where.push(sql<SqlBool>`issue_list.labels @> ${sql.val([...f.labels])}::text[]`);
  if (f.createdFrom) where.push(eb('issue_list.created_at', '>=', f.createdFrom));
  if (f.createdTo) where.push(eb('issue_list.created_at', '<', f.createdTo));
  if (f.updatedFrom) where.push(eb('issue_list.updated_at', '>=', f.updatedFrom));
  if (f.updatedTo) where.push(eb('issue_list.updated_at', '<', f.updatedTo));
  if (f.words?.length) where.push(sql<SqlBool>`search @@ ${tsquery(f.words)}`);
  return eb.and(where);
}

/**
 * One page of issues, by keyset: rows after the cursor in (sort key, id) order, so a page stays the
 * same while issues are added. The HTTP list and the benchmark's direct SQL both run this.
 */
export async function issuePage(db: Kysely<DB>, request: IssuePageRequest) {
  const sort = sortKey(request.sort, request.words);
  let query = db
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
    .select(request.words?.length ? rank(request.words).as('rank') : sql<number>`0::float8`.as('rank'))
    .where((eb) => filtered(eb, request));
  if (request.after) {
    const op = sql.raw(sort.direction === 'asc' ? '>' : '<');
    query = query.where(
      sql<SqlBool>`(${sort.expr}, issue_list.id) ${op} (${sort.cast(request.after.key)}, ${request.after.id}::uuid)`,
    );
  }
  const rows = await query
    .orderBy(sort.expr, sort.direction)
    .orderBy('issue_list.id', sort.direction)
    .limit(request.limit + 1)
    .execute();
  const page = rows.slice(0, request.limit);
  const last = page[page.length - 1];
  const next = rows.length > request.limit && last ? { key: sort.keyOf(last as never), id: last.id } : null;
  return { rows: page, next };
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

export async function projectPage(
  db: Kysely<ProjectListTables>,
  request: { tenantId: string; archived?: boolean; limit: number; after?: { key: string; id: string } },
) {
  let query = db.selectFrom('project_list').selectAll().where('tenant_id', '=', request.tenantId);
  if (request.archived !== undefined) query = query.where('archived', '=', request.archived);
  if (request.after) {
    query = query.where(sql<SqlBool>`(key, id) > (${request.after.key}, ${request.after.id}::uuid)`);
  }
  const rows = await query
    .orderBy('key')
    .orderBy('id')
    .limit(request.limit + 1)
    .execute();
  const page = rows.slice(0, request.limit);
  const last = page[page.length - 1];
  return { rows: page, next: rows.length > request.limit && last ? { key: last.key, id: last.id } : null };
}
