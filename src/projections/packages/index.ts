export { type PackageListTable, type PackageListTables, packageList } from './package-list.ts';
export { type PackageRequestTables, packageRequests } from './package-requests.ts';
export {
  packagePage,
  packageRow,
  packageStats,
  progressOf,
  type RequestFilters,
  type RequestStatus,
  rejectedSpecs,
  requestCounts,
  requestItems,
  requestPage,
  requestRow,
  requestStatuses,
} from './queries.ts';
export { tenantVersion, tenantVersions } from './tenant-versions.ts';
