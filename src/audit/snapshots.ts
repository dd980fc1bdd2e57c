import { type Kysely, sql } from 'kysely';
import { fingerprint } from '../commands/registry/index.ts';
import type { ReplayPoint } from './replay-point.ts';
import { decodeState, encodeState } from './state-codec.ts';

/** A stream's aggregate state after the event at `revision` (recorded at `recordedAt`). */
export interface Snapshot {
  revision: number;
  position: bigint;
  recordedAt: Date;
  state: unknown;
}

/** Where replay keeps and finds its snapshots (migration 0008). */
export interface SnapshotStore {
  /** Replay stores a snapshot after each revision `every - 1`, `2·every - 1`, … it folds. */
  readonly every: number;
  /** The latest snapshot at or before `point` (revision ≤ `upTo`), made by the aggregate code `code`. */
  find(streamId: string, code: string, point: ReplayPoint, upTo: number): Promise<Snapshot | undefined>;
  save(streamId: string, code: string, snapshots: readonly Snapshot[]): Promise<void>;
}

type SnapshotTables = {
  warden_replay_snapshots: {
    stream_id: string;
    code: string;
    revision: string | number;
    position: string;
    recorded_at: Date | string;
    state: string;
  };
};

/**
 * Snapshots in the service's database (PostgreSQL or PGlite), whatever stores the events. `upcasters`
 * is the upcaster registry's fingerprint: it joins the aggregate's in the key, so a new upcaster
 * also retires every snapshot folded without it.
 */
export function replaySnapshots(
  database: Kysely<unknown>,
  options: { upcasters: string; every?: number },
): SnapshotStore {
  const db = database as Kysely<SnapshotTables>;
  const key = (code: string) => fingerprint(code, options.upcasters);
  return {
    every: options.every ?? 200,
    async find(streamId, aggregateCode, point, upTo) {
      const code = key(aggregateCode);
      let query = db
        .selectFrom('warden_replay_snapshots')
        .select(['revision', 'position', 'recorded_at', 'state'])
        .where('stream_id', '=', streamId)
        .where('code', '=', code)
        .where('revision', '<=', upTo);
      if (point.kind === 'time') query = query.where('recorded_at', '<=', point.at);
      const row = await query.orderBy('revision', 'desc').limit(1).executeTakeFirst();
      if (!row) return undefined;
      return {
        revision: Number(row.revision),
        position: BigInt(row.position),
        recordedAt: new Date(row.recorded_at),
        state: decodeState(row.state),
      };
    },
    async save(streamId, aggregateCode, snapshots) {
      if (snapshots.length === 0) return;
      const code = key(aggregateCode);
      await db
        .insertInto('warden_replay_snapshots')
        .values(
          snapshots.map((s) => ({
            stream_id: streamId,
            code,
            revision: s.revision,
            position: s.position.toString(),
            recorded_at: s.recordedAt,
            state: encodeState(s.state),
          })),
        )
        .onConflict((oc) => oc.columns(['stream_id', 'code', 'revision']).doNothing())
        .execute();
    },
  };
}

/** Drops every snapshot (they are a cache: replay makes them again). */
export async function clearSnapshots(database: Kysely<unknown>): Promise<void> {
  await sql`delete from warden_replay_snapshots`.execute(database);
}
