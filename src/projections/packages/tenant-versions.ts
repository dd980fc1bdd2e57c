import type { Kysely } from 'kysely';
import type { PackageListTables } from './package-list.ts';

/** One version of a package as one tenant's checks left it. */
export interface TenantVersion {
  version: string;
  status: string;
  /** The integrity its checks recorded (the lockfile's, then the downloaded bytes'). */
  integrity: string | null;
}

/**
 * Every version of `name` this tenant requested, with its status: what the tenant's npm view serves
 * (the versions let in) and how it explains a refusal (the decision on the one asked for).
 */
export async function tenantVersions(
  db: Kysely<PackageListTables>,
  tenantId: string,
  name: string,
): Promise<TenantVersion[]> {
  return db
    .selectFrom('package_list')
    .select(['version', 'status', 'integrity'])
    .where('tenant_id', '=', tenantId)
    .where('name', '=', name)
    .execute();
}

/** One version of a package as this tenant's checks left it, or undefined when it never asked for it. */
export async function tenantVersion(
  db: Kysely<PackageListTables>,
  tenantId: string,
  name: string,
  version: string,
): Promise<TenantVersion | undefined> {
  return db
    .selectFrom('package_list')
    .select(['version', 'status', 'integrity'])
    .where('tenant_id', '=', tenantId)
    .where('spec', '=', `${name}@${version}`)
    .executeTakeFirst();
}
