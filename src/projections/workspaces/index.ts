export { type AgentListTables, agentList, type WorkspaceAgentTable } from './agent-list.ts';
export {
  agentRow,
  agentUsage,
  type ListedWorkspace,
  listAgents,
  listWorkspaces,
  liveRoutes,
  runningWorkspaces,
  unavailableWorkspaces,
  type WorkspaceFilters,
  type WorkspacesReadTables,
  workspaceRow,
} from './queries.ts';
export { type RouteListTables, routeList, type WorkspaceRouteTable } from './route-list.ts';
export { announceRoutesChanged, ROUTES_CHANNEL } from './routes-notice.ts';
export { type WorkspaceListTable, type WorkspaceListTables, workspaceList } from './workspace-list.ts';
