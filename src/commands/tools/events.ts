import { z } from 'zod';
import type { DomainEvent } from '../kernel/index.ts';

export const executionStatuses = [
  'queued',
  'running',
  'completed',
  'failed',
  'cancelled',
  'timed_out',
  'interrupted',
] as const;
export const ExecutionStatus = z.enum(executionStatuses);
export type ExecutionStatus = z.infer<typeof ExecutionStatus>;
/** Statuses an execution never leaves. */
export const finalStatuses: readonly ExecutionStatus[] = [
  'completed',
  'failed',
  'cancelled',
  'timed_out',
  'interrupted',
];
export const isFinal = (status: ExecutionStatus) => finalStatuses.includes(status);

/** A tool's id in the catalog, `port-scan`. */
export const ToolId = z.string().regex(/^[a-z][a-z0-9-]{1,39}$/, 'must be a tool id such as port-scan');

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:.]{2,45}$/;
const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `text` is an IPv4 or IPv6 literal (syntax only: the domain reads no network). */
export const isAddressLiteral = (text: string) => IPV4.test(text) || (text.includes(':') && IPV6.test(text));

function isCidr(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  if (rest.length > 0 || address === undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  const n = Number(bits);
  if (IPV4.test(address)) return n <= 32;
  return address.includes(':') && IPV6.test(address) && n <= 128;
}

/**
 * One allowlist entry: a CIDR (`10.0.0.0/8`, `::1/128`), a single address, a host name
 * (`scanme.example.com`) or a wildcard of a domain's sub-names (`*.example.com`).
 */
export const TargetEntry = z
  .string()
  .trim()
  .toLowerCase()
  .max(253, 'must be at most 253 characters')
  .refine(
    (t) => isCidr(t) || isAddressLiteral(t) || (HOST.test(t) && !/^[\d.]+$/.test(t)),
    'must be a CIDR, an IP address or a host name',
  );
export const TargetList = z.array(TargetEntry).max(500, 'at most 500 entries');

/**
 * An entry as a tenant may write it now: a host name needs two labels at least (`db.example.com`;
 * `*.corp` covers two-label names). A single label (`db`, `localhost`) reaches whatever the
 * platform's network makes of it: the host's search domains, or a container network's DNS naming
 * the platform's own services. Entries stored before are read as they were (`TargetList`); the
 * tools refuse a single-label target whatever the list holds.
 */
export const NewTargetEntry = TargetEntry.refine(
  (t) => t.startsWith('*.') || t.includes('.') || t.includes(':'),
  'must be a CIDR, an IP address or a fully qualified host name (db.example.com, not db): a single label means whatever the platform’s network makes of it',
);
export const NewTargetList = z.array(NewTargetEntry).max(500, 'at most 500 entries');

const at = z.iso.datetime();
const execution = { executionId: z.uuid(), tenantId: z.uuid() };
/** Who did it: a user id, or `process:<name>` / `worker:<id>`. */
const by = z.string().min(1).max(200);

/** The event contract of the tools context: these schemas are what is stored. */
export const toolsEventSchemas = {
  ExecutionQueued: z.object({
    ...execution,
    toolId: ToolId,
    toolVersion: z.string().max(100),
    actorId: by,
    /** The target as the caller named it (null for tools without one). */
    target: z.string().max(300).nullable(),
    /** The address the target was checked as and the tool connects to. */
    address: z.string().max(100).nullable(),
    parameters: z.record(z.string(), z.unknown()),
    timeoutMs: z.number().int().min(1),
    rerunOf: z.uuid().nullable(),
    at,
  }),
  ExecutionStarted: z.object({ ...execution, worker: z.string().max(200), at }),
  ExecutionProgressed: z.object({ ...execution, progress: z.number().min(0).max(1), at }),
  ExecutionCancelRequested: z.object({ ...execution, at, by }),
  ExecutionCompleted: z.object({
    ...execution,
    exitCode: z.number().int().nullable(),
    result: z.unknown(),
    outputBytes: z.number().int().min(0),
    truncated: z.boolean(),
    at,
  }),
  ExecutionFailed: z.object({
    ...execution,
    exitCode: z.number().int().nullable(),
    error: z.string().max(2000),
    outputBytes: z.number().int().min(0),
    truncated: z.boolean(),
    at,
  }),
  ExecutionCancelled: z.object({
    ...execution,
    /** Whether it had started: a queued run that is cancelled never starts. */
    started: z.boolean(),
    outputBytes: z.number().int().min(0),
    at,
    by,
  }),
  ExecutionTimedOut: z.object({
    ...execution,
    timeoutMs: z.number().int().min(1),
    outputBytes: z.number().int().min(0),
    truncated: z.boolean(),
    at,
  }),
  /** Its worker died mid-run: found once the job's lease lapsed, never run a second time. */
  ExecutionInterrupted: z.object({ ...execution, reason: z.string().max(500), at }),

  ToolTargetsChanged: z.object({
    tenantId: z.uuid(),
    targets: TargetList,
    previous: TargetList,
    at,
    by,
  }),
} as const;

type Schemas = typeof toolsEventSchemas;
export type ToolsEvent = {
  [K in keyof Schemas]: DomainEvent<K, z.infer<Schemas[K]>>;
}[keyof Schemas];
export type ToolsEventType = ToolsEvent['type'];
export const toolsEventTypes = Object.keys(toolsEventSchemas) as ToolsEventType[];
export type ExecutionEvent = Exclude<ToolsEvent, { type: 'ToolTargetsChanged' }>;
export type TargetsEvent = Extract<ToolsEvent, { type: 'ToolTargetsChanged' }>;
export const executionEventTypes = toolsEventTypes.filter(
  (t) => t !== 'ToolTargetsChanged',
) as ExecutionEvent['type'][];

export const executionStreamId = (executionId: string) => `tools.Execution-${executionId}`;
export const targetsStreamId = (tenantId: string) => `tools.Targets-${tenantId}`;

/** Validates events against their stored contract, as `decide` returns them. */
