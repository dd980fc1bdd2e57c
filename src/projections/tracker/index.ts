export { type IssueListTables, issueList } from './issue-list.ts';
export { searchWords } from './list-query.ts';
export { type ProjectListTables, projectList } from './project-list.ts';
export { type ProjectSort, projectPage, projectSorts } from './project-queries.ts';
export {
  boardCounts,
  commentOf,
  commentsOf,
  highestIssueNumber,
  type IssueSort,
  issuePage,
  issueSorts,
} from './queries.ts';
export { type SavedFilterListTables, savedFilterList, savedFiltersOf } from './saved-filter-list.ts';
