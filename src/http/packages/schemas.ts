import { z } from '@hono/zod-openapi';
import { Finding, PackageStatus, PolicyBody } from '../../commands/packages/index.ts';
import { LOCKFILE_FORMATS } from '../../packages/index.ts';
import { requestStatuses } from '../../projections/packages/index.ts';

export const SpecParam = z.object({
  spec: z
    .string()
    .min(3)
    .max(500)
    .meta({ description: 'URL-encoded `name@version`, e.g. `%40scope%2Fname%401.2.3`' }),
});
export const RequestParam = z.object({ id: z.uuid() });

export const Decision = z.object({
  by: z.string(),
  reason: z.string(),
  policy_version: z.number().int().nullable(),
  at: z.iso.datetime().nullable(),
});

export const PackageView = z
  .object({
    spec: z.string(),
    name: z.string(),
    version: z.string(),
    status: PackageStatus,
    license: z.string().nullable(),
    lockfile_license: z.string().nullable(),
    integrity: z.string().nullable(),
    size: z.number().int().nullable(),
    findings: z.array(Finding),
    max_severity: z.string().nullable(),
    reasons: z.array(z.string()).meta({ description: 'Why it waits for an approver' }),
    warnings: z.array(z.string()),
    waivers: z.record(z.string(), z.object({ expires_at: z.string(), by: z.string(), reason: z.string() })),
    attention: z.boolean().meta({ description: 'New findings since it was let in' }),
    decision: Decision.nullable(),
    failure: z
      .object({
        stage: z.string(),
        code: z.string(),
        retryable: z.boolean().optional(),
        attempts: z.number().int().optional(),
      })
      .nullable(),
    reason: z.string().nullable(),
    request_id: z.uuid(),
    received_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'Package' });

export const PackageList = z.object({ items: z.array(PackageView), next_cursor: z.string().nullable() });

export const PackageListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
  status: PackageStatus.optional(),
  license: z.string().max(200).optional(),
  severity: z.enum(['critical', 'high', 'medium', 'low', 'info']).optional(),
  attention: z.enum(['true', 'false']).optional(),
  q: z.string().trim().min(1).max(200).optional(),
});

export const Progress = z.object({ done: z.number().int(), total: z.number().int() });
export const RequestStatus = z.enum(requestStatuses).meta({
  description:
    '`completed_with_unsupported`: every package ended, but the lockfile also names entries Warden never fetches (`unsupported`), so it is not installable from Warden alone',
});

export const RequestListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
  status: RequestStatus.optional(),
  requester: z.string().min(1).max(200).optional().meta({ description: 'The requester’s user id' }),
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'Submitted at or after' }),
  until: z.iso.datetime({ offset: true }).optional().meta({ description: 'Submitted before' }),
});

export const RequestDecisionResult = z
  .object({
    request_id: z.uuid(),
    action: z.enum(['approve', 'reject']),
    packages: z.array(
      z.object({
        spec: z.string(),
        outcome: z.enum(['approved', 'rejected', 'not_waiting', 'refused']),
        status: PackageStatus,
        rule: z.string().optional().meta({ description: 'Why its own rules refused it (`refused`)' }),
        detail: z.string().optional(),
        position: z.string().optional(),
      }),
    ),
  })
  .meta({ id: 'PackageRequestDecision' });

export const RequestSummary = z
  .object({
    id: z.uuid(),
    status: RequestStatus,
    progress: Progress,
    counts: z.record(z.string(), z.number().int()),
    lockfile_format: z
      .enum(LOCKFILE_FORMATS)
      .meta({ description: 'Which tool wrote the lockfile: npm, pnpm, Yarn v1 or Yarn Berry' }),
    lockfile_version: z.number().int(),
    project: z.string().nullable(),
    packages_total: z.number().int(),
    bundled: z.number().int(),
    unsupported: z.array(
      z.object({
        path: z.string(),
        name: z.string().optional(),
        source: z.string(),
        reason: z.literal('unsupported_source'),
      }),
    ),
    requested_by: z.string(),
    created_at: z.iso.datetime(),
  })
  .meta({ id: 'PackageRequestSummary' });

export const RequestItem = z.object({
  spec: z.string(),
  status: z.union([PackageStatus, z.literal('bundled')]),
  dev: z.boolean(),
  optional: z.boolean(),
  peer: z.boolean(),
  license: z.string().nullable(),
  max_severity: z.string().nullable(),
  findings: z.array(Finding),
  reasons: z.array(z.string()),
  reason: z.string().nullable(),
  lockfile_integrity: z.string().nullable().meta({ description: 'What this request’s lockfile said' }),
  integrity_matches: z.boolean().nullable().meta({
    description:
      'Whether this lockfile’s integrity names the bytes the package was checked with (null: not downloaded yet, or no digest of a common algorithm). false: npm will refuse this entry when it installs from the secure registry; regenerate the lockfile.',
  }),
});

export const RequestView = RequestSummary.extend({ packages: z.array(RequestItem) }).meta({
  id: 'PackageRequest',
});

export const Submitted = z.object({
  id: z.uuid(),
  status: RequestStatus,
  packages_total: z.number().int(),
  unsupported: RequestSummary.shape.unsupported,
  position: z.string(),
});

export const ReasonBody = z.strictObject({ reason: z.string().trim().min(1).max(2000) });
export const WaiverBody = z.strictObject({
  finding_id: z.string().min(1).max(200),
  reason: z.string().trim().min(1).max(2000),
  expires_at: z.iso.datetime({ offset: true }),
});

export const PackageWritten = z.object({
  spec: z.string(),
  status: PackageStatus,
  revision: z.number().int(),
  position: z.string(),
});

export const PolicyView = z
  .object({
    version: z.number().int(),
    policy: PolicyBody,
    updated_by: z.string().nullable(),
    updated_at: z.iso.datetime().nullable(),
  })
  .meta({ id: 'PackagePolicy' });
