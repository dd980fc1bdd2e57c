import { z } from 'zod';
import { commonProblems, problemContent } from '../kit/index.ts';

// The audit API's shapes: filters, entries, replays, and the problems its routes answer.
export const MAX_AUDIT_PAGE = 200;
export const NDJSON = 'application/x-ndjson';
/** A time the database can compare with: it has no year 0000 (an offset can reach it). */
const Time = z.iso.datetime({ offset: true }).refine((v) => {
  const year = new Date(v).getUTCFullYear();
  return year >= 1 && year <= 9999;
}, 'must be in the years 0001 to 9999');

const Filters = {
  stream: z.string().min(1).max(512).optional().meta({ description: 'Only this stream' }),
  entity_type: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .meta({ description: 'Only this kind of entity, e.g. `identity.User`' }),
  actor: z.string().min(1).max(200).optional().meta({ description: 'Only events caused by this user id' }),
  type: z
    .string()
    .min(1)
    .max(2000)
    .optional()
    .meta({ description: 'Only these event types (comma-separated), e.g. `UserRoleChanged`' }),
  from: Time.optional().meta({ description: 'Recorded at or after this time' }),
  to: Time.optional().meta({ description: 'Recorded before this time' }),
  all_tenants: z
    .enum(['true', 'false'])
    .optional()
    .meta({ description: 'Every tenant’s events (platform superadmin only)' }),
};
export const ListQuery = z.strictObject({
  ...Filters,
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(50),
  cursor: z.string().max(500).optional(),
  sort: z.enum(['position', '-position']).default('-position'),
});
export const ExportQuery = z.strictObject({
  ...Filters,
  sort: z.enum(['position', '-position']).default('position'),
});

export const AuditEntry = z
  .object({
    position: z.string(),
    event_id: z.uuid(),
    tenant_id: z.string().nullable(),
    stream_id: z.string(),
    entity_type: z.string(),
    revision: z.number().int(),
    type: z.string(),
    schema_version: z.number().int(),
    actor_id: z.string().nullable(),
    request_id: z.string().nullable(),
    correlation_id: z.string().nullable(),
    causation_id: z.string().nullable(),
    client_address: z
      .string()
      .nullable()
      .meta({ description: 'The client address of the request (as WARDEN_TRUSTED_PROXY_HOPS decides)' }),
    user_agent: z
      .string()
      .nullable()
      .meta({ description: 'The request’s User-Agent (at most 256 characters)' }),
    summary: z.string(),
    recorded_at: z.iso.datetime(),
  })
  .meta({ id: 'AuditEntry' });

const Change = z.object({ path: z.string(), from: z.unknown(), to: z.unknown() }).meta({
  description: 'One changed field; null where it did not exist',
});
export const Replay = z
  .object({
    stream_id: z.string(),
    entity_type: z.string(),
    at: z.string().nullable().meta({ description: 'The `at` asked for (null: the latest state)' }),
    revision: z.number().int().meta({ description: 'Last event folded; -1 before the stream existed' }),
    latest_revision: z.number().int(),
    recorded_at: z.iso.datetime().nullable(),
    state: z.unknown(),
    steps: z
      .array(
        z.object({
          revision: z.number().int(),
          position: z.string(),
          type: z.string(),
          recorded_at: z.iso.datetime(),
          actor_id: z.string().nullable(),
          changes: z.array(Change),
        }),
      )
      .optional(),
  })
  .meta({ id: 'Replay' });

export const authProblems = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('The role lacks audit:read (or all_tenants without being platform superadmin)'),
};
