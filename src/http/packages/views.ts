import type { z } from '@hono/zod-openapi';
import type { Finding } from '../../commands/packages/index.ts';
import type { PackageListTable } from '../../projections/packages/index.ts';
import type { PackageView } from './schemas.ts';

export const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());
export const parse = <T>(value: unknown, fallback: T): T =>
  value === null || value === undefined
    ? fallback
    : ((typeof value === 'string' ? JSON.parse(value) : value) as T);

export function presentPackage(row: PackageListTable): z.infer<typeof PackageView> {
  return {
    spec: row.spec,
    name: row.name,
    version: row.version,
    status: row.status as z.infer<typeof PackageView>['status'],
    license: row.license,
    lockfile_license: row.lockfile_license,
    integrity: row.integrity,
    size: row.size,
    findings: parse<Finding[]>(row.findings, []),
    max_severity: row.max_severity,
    reasons: row.reasons,
    warnings: row.warnings,
    waivers: parse(row.waivers, {}),
    attention: row.attention,
    decision: row.decided_by
      ? {
          by: row.decided_by,
          reason: row.reason ?? '',
          policy_version: row.policy_version,
          at: iso(row.decided_at),
        }
      : null,
    failure: parse(row.failure, null),
    reason: row.reason,
    request_id: row.request_id,
    received_at: iso(row.received_at)!,
    updated_at: iso(row.updated_at)!,
    revision: Number(row.revision),
  };
}
