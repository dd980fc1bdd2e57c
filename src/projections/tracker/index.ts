export { type IssueListTables, issueList } from './issue-list.ts';
export { type ProjectListTables, projectList } from './project-list.ts';
export {
  boardCounts,
  commentOf,
  commentsOf,
  highestIssueNumber,
  type IssueSort,
  issuePage,
  issueSorts,
  projectPage,
  searchWords,
  validSortKey,
} from './queries.ts';
