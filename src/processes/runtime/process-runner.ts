import type { Kysely } from 'kysely';
import type { RecordedEvent } from '../../eventstore/port.ts';
import { handleBatch } from './handle-batch.ts';
import {
  advanceCheckpoint,
  ensurePartitions,
  type OwnedPartition,
  recordFailure,
  releasePartitions,
} from './leases.ts';
import { partitionOf } from './partition.ts';
import {
  bufferedIn,
  lowestCovered,
  markHandled,
  newPartition,
  type Partition,
  type RunnerDeps,
  retryDelayMs,
} from './runner-partition.ts';
import { type ProcessTables, processTables } from './tables.ts';

export type { RunnerDeps } from './runner-partition.ts';

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
      this.owned.set(partition, newPartition(partition, position, this.deps.batchSize));
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
      await this.readFrom(lowestCovered(this.owned.values()));
    }
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
        if (bufferedIn(this.owned.values()) >= this.deps.maxBuffered && !abort.signal.aborted) {
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
      readStore: this.deps.readStore,
      onCommitted: this.deps.onCommitted,
      logger,
      sealer: this.deps.sealer,
      workerId: this.deps.workerId,
      partition: p.index,
      committed: p.committed,
      events,
      failures: p.attempts,
      careful: p.careful,
    });
    switch (outcome.kind) {
      case 'handled':
        markHandled(p, outcome.position, outcome.count, this.deps.batchSize);
        this.deps.onHandled(outcome.count);
        if (bufferedIn(this.owned.values()) < this.deps.maxBuffered / 2) this.drained?.();
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
    const delay = retryDelayMs(p.attempts);
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
