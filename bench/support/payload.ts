import { randomUUID } from 'node:crypto';

/** The metadata every Warden event carries (DESIGN.md §3). */
export interface BenchMetadata {
  tenantId: string;
  actorId: string;
  correlationId: string;
  causationId: string;
  requestId: string;
}

export interface BenchEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: BenchMetadata;
}

const tenants = Array.from({ length: 8 }, () => randomUUID());
const actor = randomUUID();

/**
 * A tenant-sized event (about 450 bytes of JSON in data + metadata), made the same way for every
 * contender: Warden, the raw inserts and the peer store all pay for the same UUIDs and objects.
 */
export function benchEvent(writer: number, seq: number): BenchEvent {
  const id = randomUUID();
  const tenantId = tenants[writer % tenants.length]!;
  return {
    id,
    type: 'TenantSettingsChanged',
    data: {
      tenantId,
      name: `Tenant ${writer}-${seq}`,
      slug: `tenant-${writer}-${seq}`,
      plan: seq % 3 === 0 ? 'enterprise' : 'team',
      seats: 25 + (seq % 50),
      domains: [`t${writer}-${seq}.example.com`],
      settings: { signup: 'approval', locale: 'en-GB', mfa: true },
    },
    metadata: { tenantId, actorId: actor, correlationId: id, causationId: id, requestId: randomUUID() },
  };
}

/** Stream ids follow Warden's `<context>.<Aggregate>-<id>` shape; each writer owns its streams. */
export function streamId(tag: string, writer: number, stream: number): string {
  return `bench.${tag}-${writer}x${stream}`;
}

/** Streams each writer cycles through, so appends hit existing streams with an expected revision. */
export const STREAMS_PER_WRITER = 16;
