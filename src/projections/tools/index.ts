export { type ExecutionListTable, type ExecutionListTables, executionList } from './execution-list.ts';
export { activeExecutions, type ExecutionFilters, listExecutions } from './queries.ts';
