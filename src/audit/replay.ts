import type { AggregateRegistry } from '../commands/registry/index.ts';
import type { EventStore, RecordedEvent } from '../eventstore/port.ts';
import { type Change, diffJson, type Json, toJsonView } from './json-view.ts';
import type { ReplayPoint } from './replay-point.ts';
import type { Snapshot, SnapshotStore } from './snapshots.ts';

export { parseReplayPoint, type ReplayPoint } from './replay-point.ts';

/** One folded event and what it changed (for `--diff`). */
export interface ReplayStep {
  revision: number;
  position: string;
  type: string;
  recordedAt: string;
  actorId: string | null;
  changes: Change[];
}

export interface ReplayResult {
  streamId: string;
  entity: string;
  /** The tenant the stream belongs to (from its events' metadata); null for platform streams. */
  tenantId: string | null;
  /** Revision of the last event folded; -1 when the point lies before the stream's first event. */
  revision: number;
  /** Revision of the stream's newest event. */
  latestRevision: number;
  recordedAt: string | null;
  state: Json;
  steps?: ReplayStep[];
}

export type ReplayOutcome =
  | { ok: true; result: ReplayResult }
  | { ok: false; reason: 'unknown-stream' | 'not-an-aggregate' };

const PAGE = 5000;
const FIRST_TIME_PAGE = 250;

/**
 * The state of one entity at a point, folded from its events with its aggregate's own `evolve`
 * (events arrive upcast when `store` is the upcasting store). A point before the stream's first
 * event is the aggregate's initial state, not an error.
 */
export async function replayStream(
  store: EventStore,
  registry: AggregateRegistry,
  streamId: string,
  point: ReplayPoint,
  options: { steps?: boolean; snapshots?: SnapshotStore } = {},
): Promise<ReplayOutcome> {
  const aggregate = registry.forStream(streamId);
  // Start from the latest snapshot before the point (not when listing steps: they need the whole history).
  const snapshots = aggregate?.snapshots && !options.steps ? options.snapshots : undefined;
  // The stream's ends and the snapshot are independent reads: one round trip's wait, not three.
  const [first, last, found] = await Promise.all([
    store.readStream(streamId, { limit: 1 }),
    aggregate ? store.readStream(streamId, { direction: 'backwards', limit: 1 }) : [],
    aggregate && snapshots
      ? snapshots.find(
          streamId,
          aggregate.fingerprint,
          point,
          point.kind === 'revision' ? point.revision : Number.MAX_SAFE_INTEGER,
        )
      : undefined,
  ]);
  if (first.length === 0) return { ok: false, reason: 'unknown-stream' };
  if (!aggregate) return { ok: false, reason: 'not-an-aggregate' };
  const latestRevision = last[0]?.revision ?? first[0]!.revision;
  const stopRevision = point.kind === 'revision' ? Math.min(point.revision, latestRevision) : latestRevision;
  const includes = (event: RecordedEvent) =>
    point.kind !== 'time' || event.recordedAt.getTime() <= point.at.getTime();
  // A snapshot is never past the stream's end (it was folded from its events); guard anyway.
  const base = found && found.revision <= stopRevision ? found : undefined;
  const made: Snapshot[] = [];
  let state = base ? base.state : aggregate.initialState();
  let view = options.steps ? toJsonView(aggregate.view(state)) : null;
  let revision = base ? base.revision : -1;
  let recordedAt: string | null = base ? base.recordedAt.toISOString() : null;
  const steps: ReplayStep[] = [];
  let from = revision + 1;
  // A time point's stop is unknown until an event past it shows up: usually within the snapshot
  // interval, so start with a page of that size and double it, instead of reading (and parsing) a
  // full page of events beyond the point.
  let pageSize = point.kind === 'time' ? (snapshots?.every ?? FIRST_TIME_PAGE) : PAGE;
  scan: while (from <= stopRevision) {
    const limit = Math.min(pageSize, stopRevision - from + 1);
    pageSize = Math.min(PAGE, pageSize * 2);
    const page = await store.readStream(streamId, { from, limit });
    if (page.length === 0) break;
    for (const event of page) {
      if (!includes(event)) break scan;
      state = aggregate.evolve(state, event);
      revision = event.revision;
      recordedAt = event.recordedAt.toISOString();
      if (snapshots && (revision + 1) % snapshots.every === 0) {
        made.push({ revision, position: event.position, recordedAt: event.recordedAt, state });
      }
      if (options.steps) {
        const next = toJsonView(aggregate.view(state));
        steps.push({
          revision: event.revision,
          position: event.position.toString(),
          type: event.type,
          recordedAt,
          actorId: event.metadata.actorId ?? null,
          changes: diffJson(view, next),
        });
        view = next;
      }
    }
    from = page.at(-1)!.revision + 1;
  }
  // A cache write: a failure here must not fail the replay that is already done.
  if (snapshots && made.length > 0)
    await snapshots.save(streamId, aggregate.fingerprint, made).catch(() => undefined);
  // Ownership never depends on the point asked for: the stream's first or newest event names it.
  const tenantId = first[0]!.metadata.tenantId ?? last[0]?.metadata.tenantId ?? null;
  return {
    ok: true,
    result: {
      streamId,
      entity: aggregate.entity,
      tenantId,
      revision,
      latestRevision,
      recordedAt,
      state: toJsonView(aggregate.view(state)),
      ...(options.steps ? { steps } : {}),
    },
  };
}
