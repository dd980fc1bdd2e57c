export { type PackageListTable, type PackageListTables, packageList } from './package-list.ts';
export { type PackageRequestTables, packageRequests } from './package-requests.ts';
export {
  packagePage,
  packageRow,
  packageStats,
  progressOf,
  requestCounts,
  requestItems,
  requestPage,
  requestRow,
} from './queries.ts';
export { tenantVersion, tenantVersions } from './tenant-versions.ts';
