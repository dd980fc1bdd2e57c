import type { Kysely } from 'kysely';
import type PQueue from 'p-queue';
import type { Database } from '../../db/database.ts';
import type { Tables } from '../../db/tables.ts';
import type { AppendListener, EventStore, RecordedEvent } from '../../eventstore/port.ts';
import type { ProcessLogger, ProcessManager, Sealer } from './process-manager.ts';

/* What a process runner is given, and what it keeps for each partition it owns. */

export interface RunnerDeps {
  process: ProcessManager;
  database: Database;
  /** Where events are read from (outside any transaction). */
  store: EventStore;
  /** The store a handler appends through, bound to its transaction when the adapter allows it. */
  storeFor: (trx: Kysely<Tables>, careful: boolean) => EventStore;
  /** The same view for reading outside any transaction (a process manager's `prepare`). */
  readStore: Pick<EventStore, 'readStream'>;
  /** Told the types a handling transaction appended, once it committed (the binding's `committed`). */
  onCommitted?: AppendListener | undefined;
  queue: PQueue;
  workerId: string;
  logger: ProcessLogger;
  sealer?: Sealer | undefined;
  partitions: number;
  batchSize: number;
  maxBuffered: number;
  onHandled: (count: number) => void;
}

export interface Partition {
  index: number;
  /** Checkpoint committed in the database. */
  committed: bigint;
  /** Every event of this partition at or below this position is in `buffer` or handled. */
  covered: bigint;
  buffer: RecordedEvent[];
  /** The task running (or queued for) this partition; one at a time keeps its order. */
  inFlight: Promise<void> | undefined;
  /** Largest next batch: shrinks to commit the events before a failing one, then isolate it. */
  limit: number;
  attempts: number;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Appends under savepoints for the next batch (after one hit a duplicate or a conflict). */
  careful: boolean;
  /** The checkpoint may move to `covered` (set on each heartbeat, cleared when done). */
  idleDue: boolean;
  /** Being released or lost: no new work starts. */
  leaving: boolean;
}

/** A partition just claimed at its committed checkpoint: nothing buffered, full batches. */
export function newPartition(index: number, position: bigint, batchSize: number): Partition {
  return {
    index,
    committed: position,
    covered: position,
    buffer: [],
    inFlight: undefined,
    limit: batchSize,
    attempts: 0,
    careful: false,
    retryTimer: undefined,
    idleDue: false,
    leaving: false,
  };
}

/** How long a failing event waits before its next attempt: doubling from 200 ms, at most 30 s. */
export const retryDelayMs = (attempts: number) => Math.min(30_000, 200 * 2 ** (attempts - 1));

/** The first `count` buffered events are handled and committed up to `position`: back to full batches. */
export function markHandled(p: Partition, position: bigint, count: number, batchSize: number): void {
  p.committed = position;
  p.buffer.splice(0, count);
  p.limit = batchSize;
  p.attempts = 0;
  p.careful = false;
}

/** Events buffered across the partitions (the reader pauses above its bound). */
export function bufferedIn(partitions: Iterable<Partition>): number {
  let count = 0;
  for (const p of partitions) count += p.buffer.length;
  return count;
}

/** Where the shared reader resumes: the lowest position every partition has seen up to. */
export function lowestCovered(partitions: Iterable<Partition>): bigint {
  let lowest: bigint | undefined;
  for (const p of partitions) if (lowest === undefined || p.covered < lowest) lowest = p.covered;
  return lowest ?? 0n;
}
