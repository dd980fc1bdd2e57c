import { z } from 'zod';

/** The OSV schema fields Warden reads (https://ossf.github.io/osv-schema/); others pass through. */
const Event = z.looseObject({
  introduced: z.string().optional(),
  fixed: z.string().optional(),
  last_affected: z.string().optional(),
  limit: z.string().optional(),
});

const Range = z.looseObject({
  type: z.string(),
  events: z.array(Event).default([]),
});

const Affected = z.looseObject({
  package: z.looseObject({ ecosystem: z.string(), name: z.string(), purl: z.string().optional() }).optional(),
  ranges: z.array(Range).optional(),
  versions: z.array(z.string()).optional(),
  database_specific: z.record(z.string(), z.unknown()).optional(),
  ecosystem_specific: z.record(z.string(), z.unknown()).optional(),
});

export const OsvRecord = z.looseObject({
  id: z.string().min(1).max(200),
  modified: z.string().min(1),
  published: z.string().optional(),
  withdrawn: z.string().optional(),
  aliases: z.array(z.string()).optional(),
  summary: z.string().optional(),
  details: z.string().optional(),
  severity: z.array(z.looseObject({ type: z.string(), score: z.string() })).optional(),
  affected: z.array(Affected).optional(),
  database_specific: z.record(z.string(), z.unknown()).optional(),
});
export type OsvRecord = z.infer<typeof OsvRecord>;
