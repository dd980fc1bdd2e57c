import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { AppendListener, EventStore, RecordedEvent } from '../../eventstore/port.ts';
import { RetryWithSavepointsError } from '../../eventstore/port.ts';
import { advanceCheckpoint } from './leases.ts';
import {
  type ProcessLogger,
  type ProcessManager,
  prepareContext,
  processContext,
  type Sealer,
} from './process-manager.ts';
import { type ProcessTables, viewAs } from './tables.ts';

export interface BatchInput {
  process: ProcessManager;
  db: Kysely<ProcessTables>;
  storeFor: (trx: Kysely<Tables>, careful: boolean) => EventStore;
  /** The store `prepare` reads through, outside any transaction (the same view as `storeFor`'s). */
  readStore: Pick<EventStore, 'readStream'>;
  /** Told the types the transaction appended (and its last append's position), once it committed. */
  onCommitted?: AppendListener | undefined;
  logger: ProcessLogger;
  sealer?: Sealer | undefined;
  workerId: string;
  partition: number;
  /** The checkpoint this worker last committed for the partition. */
  committed: bigint;
  /** Consecutive events of the partition, in order. */
  events: readonly RecordedEvent[];
  /** How many times the first of `events` failed already (0: it is new). */
  failures?: number;
  careful: boolean;
}

/** What became of a batch; nothing of it is committed unless `handled`. */
export type BatchOutcome =
  /** The first `count` events are handled (fewer than given when a later one's `prepare` failed). */
  | { kind: 'handled'; position: bigint; count: number }
  /** Another worker owns the partition now, or moved its checkpoint. */
  | { kind: 'lease-lost' }
  /** A fast-path append hit a duplicate or a conflict: run it again with savepoints. */
  | { kind: 'retry-carefully' }
  /** Event `index` failed; the ones before it are fine on their own. */
  | { kind: 'failed'; index: number; error: unknown };

/**
 * Handles events of one partition in one transaction: every handler's effects, then the checkpoint
 * compare-and-set (owner and previous position). Either all of it commits or none of it does, so
 * an event counts as handled exactly when its effects and the checkpoint past it are committed.
 */
export async function handleBatch(input: BatchInput): Promise<BatchOutcome> {
  const { process, logger } = input;
  let { events } = input;
  let prepared: unknown[] = [];
  if (process.prepare) {
    const outcome = await prepareAll(input, process.prepare.bind(process));
    if ('failed' in outcome) return outcome.failed;
    ({ events, prepared } = outcome);
  }
  const last = events[events.length - 1]!;
  let at = 0;
  const appended = { types: new Set<string>(), last: 0n };
  try {
    await input.db.transaction().execute(async (trx) => {
      const store = recordingAppends(input.storeFor(viewAs<Tables>(trx), input.careful), appended);
      const db = viewAs<unknown>(trx);
      for (at = 0; at < events.length; at++) {
        const event = events[at]!;
        const ctx = processContext(process.name, event, { store, db, logger, sealer: input.sealer });
        if (process.prepare) await process.handle(event, ctx, prepared[at]);
        else await process.handle(event, ctx);
      }
      const moved = await advanceCheckpoint(
        trx,
        process.name,
        input.partition,
        input.workerId,
        input.committed,
        last.position,
        events.length,
      );
      if (!moved) throw new LeaseLost();
    });
    if (appended.types.size > 0) input.onCommitted?.([...appended.types], appended.last);
    return { kind: 'handled', position: last.position, count: events.length };
  } catch (error) {
    if (error instanceof LeaseLost) return { kind: 'lease-lost' };
    if (!input.careful && needsSavepoints(error)) return { kind: 'retry-carefully' };
    return { kind: 'failed', index: Math.min(at, events.length - 1), error };
  }
}

/**
 * Runs `prepare` for each event in order, before any transaction opens: the slow external work (an
 * agent's HTTP calls) then holds no transaction, and on PGlite not the one connection every request
 * needs. Its results go to `handle` in the transaction that commits the effects with the checkpoint,
 * so exactly-once, the lease compare-and-set and the partition's order are as before. A crash, a
 * lost lease or a failed commit after `prepare` only means it runs again for the same events: its
 * work is idempotent (agent calls are keyed by the container's name), which is what makes that safe.
 * When a later event's `prepare` fails, the ones before it are handled on their own and the failing
 * one comes first in the next batch (and fails there as event 0, backing off as usual).
 */
async function prepareAll(
  input: BatchInput,
  prepare: NonNullable<ProcessManager['prepare']>,
): Promise<{ events: readonly RecordedEvent[]; prepared: unknown[] } | { failed: BatchOutcome }> {
  const { process, events } = input;
  const db = viewAs<unknown>(input.db);
  const prepared: unknown[] = [];
  for (let at = 0; at < events.length; at++) {
    const event = events[at]!;
    try {
      prepared.push(
        await prepare(
          event,
          prepareContext(process.name, event, {
            store: input.readStore,
            db,
            logger: input.logger,
            sealer: input.sealer,
            attempt: at === 0 ? (input.failures ?? 0) + 1 : 1,
          }),
        ),
      );
    } catch (error) {
      if (at === 0) return { failed: { kind: 'failed', index: 0, error } };
      return { events: events.slice(0, at), prepared };
    }
  }
  return { events, prepared };
}

class LeaseLost extends Error {}

/** `store`, noting in `into` the type of every event appended through it and the last position. */
function recordingAppends(store: EventStore, into: { types: Set<string>; last: bigint }): EventStore {
  return {
    ...store,
    append: async (streamId, events, options) => {
      const result = await store.append(streamId, events, options);
      for (const event of events) into.types.add(event.type);
      if (result.position > into.last) into.last = result.position;
      return result;
    },
  };
}

/** The handler may wrap the store's error; look down its `cause` chain. */
function needsSavepoints(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 10; depth++) {
    if (e instanceof RetryWithSavepointsError) return true;
    e = e.cause;
  }
  return false;
}
