export { type TenantDomainTables, tenantDomains } from './tenant-domains.ts';
export { type TenantListTables, tenantList } from './tenant-list.ts';
