import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { EventStore, RecordedEvent } from '../../eventstore/port.ts';
import { RetryWithSavepointsError } from '../../eventstore/port.ts';
import { advanceCheckpoint } from './leases.ts';
import { type ProcessLogger, type ProcessManager, processContext, type Sealer } from './process-manager.ts';
import { type ProcessTables, viewAs } from './tables.ts';

export interface BatchInput {
  process: ProcessManager;
  db: Kysely<ProcessTables>;
  storeFor: (trx: Kysely<Tables>, careful: boolean) => EventStore;
  logger: ProcessLogger;
  sealer?: Sealer | undefined;
  workerId: string;
  partition: number;
  /** The checkpoint this worker last committed for the partition. */
  committed: bigint;
  /** Consecutive events of the partition, in order. */
  events: readonly RecordedEvent[];
  careful: boolean;
}

/** What became of a batch; nothing of it is committed unless `handled`. */
export type BatchOutcome =
  | { kind: 'handled'; position: bigint }
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
  const { process, events, logger } = input;
  const last = events[events.length - 1]!;
  let at = 0;
  try {
    await input.db.transaction().execute(async (trx) => {
      const store = input.storeFor(viewAs<Tables>(trx), input.careful);
      const db = viewAs<unknown>(trx);
      for (at = 0; at < events.length; at++) {
        const event = events[at]!;
        await process.handle(
          event,
          processContext(process.name, event, { store, db, logger, sealer: input.sealer }),
        );
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
    return { kind: 'handled', position: last.position };
  } catch (error) {
    if (error instanceof LeaseLost) return { kind: 'lease-lost' };
    if (!input.careful && needsSavepoints(error)) return { kind: 'retry-carefully' };
    return { kind: 'failed', index: Math.min(at, events.length - 1), error };
  }
}

class LeaseLost extends Error {}

/** The handler may wrap the store's error; look down its `cause` chain. */
function needsSavepoints(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 10; depth++) {
    if (e instanceof RetryWithSavepointsError) return true;
    e = e.cause;
  }
  return false;
}
