import { type Kysely, type SqlBool, sql } from 'kysely';
import {
  keysetPage,
  type SharedFilters,
  type SortKey,
  searchRank,
  sharedConditions,
  sortKeys,
} from './list-query.ts';
import type { ProjectListTables } from './project-list.ts';

export const projectSorts = [
  'key',
  '-key',
  'name',
  '-name',
  'created_at',
  '-created_at',
  'updated_at',
  '-updated_at',
  'relevance',
] as const;
export type ProjectSort = (typeof projectSorts)[number];

export interface ProjectPageRequest extends SharedFilters {
  tenantId: string;
  archived?: boolean;
  sort: ProjectSort;
  limit: number;
  /** The last row of the previous page: its sort key (as text) and id. */
  after?: { key: string; id: string };
}

function projectSortKey(sort: ProjectSort, words: readonly string[] | undefined): SortKey {
  const column = sort.replace(/^-/, '');
  switch (column) {
    case 'key':
    case 'name':
      return sortKeys.text('project_list', column, sort);
    case 'created_at':
    case 'updated_at':
      return sortKeys.time('project_list', column, sort);
    default:
      return sortKeys.relevance('project_list', words ?? []);
  }
}

/** One page of the tenant's projects: the issue list's filters, search and keyset paging, on projects. */
export async function projectPage(db: Kysely<ProjectListTables>, request: ProjectPageRequest) {
  const where = [
    sql<SqlBool>`project_list.tenant_id = ${request.tenantId}`,
    ...(request.archived === undefined ? [] : [sql<SqlBool>`project_list.archived = ${request.archived}`]),
    ...sharedConditions('project_list', request),
  ];
  const query = db
    .selectFrom('project_list')
    .select([
      'id',
      'key',
      'name',
      'description',
      'labels',
      'archived',
      'members',
      'created_at',
      'updated_at',
      'revision',
    ])
    .select(
      request.words?.length
        ? searchRank('project_list', request.words).as('rank')
        : sql<number>`0::float8`.as('rank'),
    )
    .where((eb) => eb.and(where));
  return keysetPage(query, 'project_list', projectSortKey(request.sort, request.words), request);
}
