import type { Kysely } from 'kysely';
import type PQueue from 'p-queue';
import type { Database } from '../../db/database.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore, RecordedEvent } from '../../eventstore/port.ts';
import { handleBatch } from './handle-batch.ts';
import {
  advanceCheckpoint,
  ensurePartitions,
  type OwnedPartition,
  recordFailure,
  releasePartitions,
} from './leases.ts';
import { partitionOf } from './partition.ts';
import type { ProcessLogger, ProcessManager } from './process-manager.ts';
import { type ProcessTables, processTables } from './tables.ts';

export interface RunnerDeps {
  process: ProcessManager;
  database: Database;
  /** Where events are read from (outside any transaction). */
  store: EventStore;
  /** The store a handler appends through, bound to its transaction when the adapter allows it. */
  storeFor: (trx: Kysely<Tables>, careful: boolean) => EventStore;
  queue: PQueue;
  workerId: string;
  logger: ProcessLogger;
  partitions: number;
  batchSize: number;
  maxBuffered: number;
  onHandled: (count: number) => void;
}

interface Partition {
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

/**
 * Runs one process manager inside one worker: reads its events once, hands each to the owned
 * partition it hashes to, and handles each partition's events in order, one transaction per batch
 * (effects + checkpoint compare-and-set). Ownership changes come from the worker's heartbeat.
 */
export class ProcessRunner {
  readonly name: string;
  partitionCount = 0;
  private readonly owned = new Map<number, Partition>();
  private readonly db: Kysely<ProcessTables>;
  private stopping = false;
  private readerAbort: AbortController | undefined;
  private readerLoop: Promise<void> | undefined;
  /** Last position delivered to the reader: a partition claimed below it needs a re-read. */
  private readerPosition = 0n;
  private wakeReader: (() => void) | undefined;
  private drained: (() => void) | undefined;

  constructor(private readonly deps: RunnerDeps) {
    this.name = deps.process.name;
    this.db = processTables(deps.database);
  }

  async init(): Promise<void> {
    const start = this.deps.process.startFrom === 'now' ? await this.deps.store.headPosition() : 0n;
    this.partitionCount = await ensurePartitions(this.db, this.name, this.deps.partitions, start);
    if (this.partitionCount !== this.deps.partitions) {
      this.deps.logger.warn(
        { process: this.name, stored: this.partitionCount, configured: this.deps.partitions },
        'process manager keeps the partition count it was created with',
      );
    }
  }

  /** Partitions this runner works on (not those being released). */
  active(): number[] {
    return [...this.owned.values()].filter((p) => !p.leaving).map((p) => p.index);
  }

  /** Makes the partitions this worker owns in the database match the ones it works on. */
  reconcile(renewed: readonly OwnedPartition[]): void {
    const still = new Set(renewed.map((p) => p.partition));
    for (const p of [...this.owned.values()]) {
      if (!still.has(p.index) && !p.leaving) {
        this.deps.logger.warn(
          { process: this.name, partition: p.index },
          'partition taken by another worker',
        );
        this.drop(p);
      }
    }
    this.adopt(renewed.filter((p) => !this.owned.has(p.partition)));
  }

  adopt(claimed: readonly OwnedPartition[]): void {
    if (claimed.length === 0) return;
    let rewind = false;
    for (const { partition, position } of claimed) {
      this.owned.set(partition, {
        index: partition,
        committed: position,
        covered: position,
        buffer: [],
        inFlight: undefined,
        limit: this.deps.batchSize,
        attempts: 0,
        careful: false,
        retryTimer: undefined,
        idleDue: false,
        leaving: false,
      });
      if (position < this.readerPosition) rewind = true;
    }
    this.deps.logger.info(
      { process: this.name, partitions: claimed.map((p) => p.partition), worker: this.deps.workerId },
      'claimed partitions',
    );
    if (rewind) this.readerAbort?.abort();
    this.wakeReader?.();
  }

  /** Finishes the batch in hand for these partitions, commits what is due and gives them back. */
  async release(indexes: readonly number[]): Promise<void> {
    const leaving = indexes.map((i) => this.owned.get(i)).filter((p) => p !== undefined);
    for (const p of leaving) {
      p.leaving = true;
      clearTimeout(p.retryTimer);
    }
    await Promise.all(leaving.map((p) => p.inFlight));
    for (const p of leaving) {
      if (p.buffer.length === 0 && p.covered > p.committed) {
        await advanceCheckpoint(this.db, this.name, p.index, this.deps.workerId, p.committed, p.covered, 0);
      }
    }
    await releasePartitions(
      this.db,
      this.name,
      this.deps.workerId,
      leaving.map((p) => p.index),
    );
    for (const p of leaving) this.forget(p);
    if (leaving.length > 0) {
      this.deps.logger.info({ process: this.name, partitions: indexes }, 'released partitions');
    }
  }

  /** Lets each idle partition move its checkpoint past events that were not its own. */
  advanceIdle(): void {
    for (const p of this.owned.values()) {
      if (p.covered > p.committed && p.buffer.length === 0) {
        p.idleDue = true;
        this.schedule(p);
      }
    }
  }

  startReader(): void {
    this.readerLoop = this.read();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.readerAbort?.abort();
    this.wakeReader?.();
    this.drained?.();
    await this.readerLoop;
    await this.release([...this.owned.keys()]);
  }

  private async read(): Promise<void> {
    while (!this.stopping) {
      if (this.owned.size === 0) {
        await new Promise<void>((resolve) => {
          this.wakeReader = resolve;
        });
        this.wakeReader = undefined;
        continue;
      }
      await this.readFrom(this.lowestCovered());
    }
  }

  private buffered(): number {
    let count = 0;
    for (const p of this.owned.values()) count += p.buffer.length;
    return count;
  }

  private lowestCovered(): bigint {
    let lowest: bigint | undefined;
    for (const p of this.owned.values()) if (lowest === undefined || p.covered < lowest) lowest = p.covered;
    return lowest ?? 0n;
  }

  private async readFrom(after: bigint): Promise<void> {
    const abort = new AbortController();
    this.readerAbort = abort;
    this.readerPosition = after;
    try {
      for await (const event of this.deps.store.subscribe({
        after,
        types: this.deps.process.types,
        signal: abort.signal,
        batchSize: Math.min(1000, this.deps.maxBuffered),
      })) {
        this.dispatch(event);
        if (this.buffered() >= this.deps.maxBuffered && !abort.signal.aborted) {
          await new Promise<void>((resolve) => {
            this.drained = resolve;
            abort.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          this.drained = undefined;
        }
        if (this.owned.size === 0) abort.abort();
      }
    } catch (error) {
      this.deps.logger.error({ process: this.name, err: error }, 'reading events failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  private dispatch(event: RecordedEvent): void {
    this.readerPosition = event.position;
    const index = partitionOf(event.streamId, this.partitionCount);
    for (const p of this.owned.values()) {
      if (event.position <= p.covered) continue;
      p.covered = event.position;
      if (p.index === index && !p.leaving) {
        p.buffer.push(event);
        this.schedule(p);
      }
    }
  }

  private schedule(p: Partition): void {
    if (p.inFlight || p.leaving || this.stopping || p.retryTimer) return;
    if (p.buffer.length === 0 && !p.idleDue) return;
    const task = this.deps.queue.add(async () => {
      if (p.leaving || this.stopping) return;
      if (p.buffer.length > 0) await this.handleBatch(p);
      else await this.commitIdle(p);
    });
    p.inFlight = task
      .catch((error: unknown) => {
        this.deps.logger.error(
          { process: this.name, partition: p.index, err: error },
          'partition task failed',
        );
      })
      .finally(() => {
        p.inFlight = undefined;
        this.schedule(p);
      });
  }

  private async handleBatch(p: Partition): Promise<void> {
    const events = p.buffer.slice(0, Math.min(p.limit, this.deps.batchSize));
    const { logger } = this.deps;
    const outcome = await handleBatch({
      process: this.deps.process,
      db: this.db,
      storeFor: this.deps.storeFor,
      logger,
      workerId: this.deps.workerId,
      partition: p.index,
      committed: p.committed,
      events,
      careful: p.careful,
    });
    switch (outcome.kind) {
      case 'handled':
        p.committed = outcome.position;
        p.buffer.splice(0, events.length);
        p.limit = this.deps.batchSize;
        p.attempts = 0;
        p.careful = false;
        this.deps.onHandled(events.length);
        if (this.buffered() < this.deps.maxBuffered / 2) this.drained?.();
        return;
      case 'lease-lost':
        logger.warn(
          { process: this.name, partition: p.index },
          'lease lost: another worker owns the partition',
        );
        this.drop(p);
        return;
      case 'retry-carefully':
        p.careful = true;
        return;
      case 'failed':
        if (outcome.index > 0) {
          // Commit the events before the failing one on their own, then retry that one alone.
          p.limit = outcome.index;
          return;
        }
        await this.failed(p, events[0]!, outcome.error);
    }
  }

  /** Records the failure on the partition row and retries the event later, backing off. */
  private async failed(p: Partition, event: RecordedEvent, error: unknown): Promise<void> {
    p.attempts++;
    p.limit = 1;
    const delay = Math.min(30_000, 200 * 2 ** (p.attempts - 1));
    this.deps.logger.error(
      {
        process: this.name,
        partition: p.index,
        eventId: event.id,
        position: event.position.toString(),
        attempts: p.attempts,
        retryInMs: delay,
        err: error,
      },
      'process manager failed to handle an event',
    );
    await recordFailure(this.db, this.name, p.index, this.deps.workerId, event, String(error)).catch(
      () => undefined,
    );
    p.retryTimer = setTimeout(() => {
      p.retryTimer = undefined;
      this.schedule(p);
    }, delay);
  }

  private async commitIdle(p: Partition): Promise<void> {
    p.idleDue = false;
    if (p.covered <= p.committed || p.buffer.length > 0) return;
    const to = p.covered;
    if (await advanceCheckpoint(this.db, this.name, p.index, this.deps.workerId, p.committed, to, 0)) {
      p.committed = to;
    } else {
      this.drop(p);
    }
  }

  /** Stops working on a partition someone else now owns; its unhandled events are theirs. */
  private drop(p: Partition): void {
    p.leaving = true;
    clearTimeout(p.retryTimer);
    this.forget(p);
  }

  private forget(p: Partition): void {
    if (this.owned.get(p.index) !== p) return;
    this.owned.delete(p.index);
    p.buffer = [];
    this.drained?.();
  }
}
