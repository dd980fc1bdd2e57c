import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import PQueue from 'p-queue';
import type { Database } from '../../db/database.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore, TransactionBinding } from '../../eventstore/port.ts';
import { upcasters } from '../../eventstore/upcasters.ts';
import { upcastingStore } from '../../eventstore/upcasting.ts';
import { type PersonalDataKeys, personalDataStore } from '../../privacy/index.ts';
import { claimPartitions, renewAllLeases } from './leases.ts';
import type { ProcessLogger, ProcessManager, Sealer } from './process-manager.ts';
import { ProcessRunner } from './process-runner.ts';
import { type ProcessTables, processTables } from './tables.ts';
import { countLiveWorkers, heartbeat, markStopped, registerWorker } from './workers.ts';

export interface WorkerOptions {
  database: Database;
  /** Where events are read from; when it is this database's PostgreSQL store, appends join the transaction. */
  store: EventStore;
  processes: readonly ProcessManager[];
  logger?: ProcessLogger;
  /** Stable ids (a pod name) let a restarted worker resume its partitions without waiting for the lease. */
  workerId?: string;
  /** Partitions per process manager, fixed when it first runs (default 16). */
  partitions?: number;
  /** How long a partition stays owned without a heartbeat; heartbeats come every third of it (default 10 s). */
  leaseMs?: number;
  /** Time between heartbeats (default a third of the lease); joins and hand-overs happen on heartbeats. */
  heartbeatMs?: number;
  /** Batches handled at once across partitions (default 4); keep the pool at least this plus 2. */
  concurrency?: number;
  /** Most events of one partition handled in one transaction (default 50). */
  batchSize?: number;
  /** Events read ahead per process manager before reading pauses (default 2,000). */
  maxBuffered?: number;
  host?: string;
  pid?: number;
  /** Personal-data keys: handlers' reads and appends in a transaction go through the same encryption. */
  personalData?: PersonalDataKeys;
  /** Seals and opens secrets handlers keep beside the events (with the key-encryption key). */
  sealer?: Sealer;
  /**
   * The store bound to a handling transaction, when the events live in this very database: appends
   * then commit with the checkpoint (the PostgreSQL adapter's `transactionBindingFor`). Required, so no
   * caller forgets it: without it handlers append through `store`, outside the transaction, which on
   * PGlite (one connection, held by that transaction) waits forever. `undefined` for another store.
   */
  storeIn: TransactionBinding<Kysely<Tables>> | undefined;
}

export interface WorkerStats {
  id: string;
  handled: number;
  /** Owned partitions per process manager. */
  partitions: Record<string, number[]>;
}

const silent: ProcessLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A worker: runs process managers as checkpointed, partitioned subscriptions and competes with the
 * other workers on the same database for the partitions. Each heartbeat renews its leases, counts
 * the live workers and takes or gives back partitions towards a fair share (ceil(N / workers)).
 */
export class Worker {
  readonly id: string;
  private readonly runners: ProcessRunner[];
  private readonly db: Kysely<ProcessTables>;
  private readonly logger: ProcessLogger;
  private readonly leaseMs: number;
  private readonly queue: PQueue;
  private handled = 0;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ticking: Promise<void> = Promise.resolve();

  constructor(private readonly options: WorkerOptions) {
    const host = options.host ?? hostname();
    const pid = options.pid ?? globalThis.process?.pid ?? 0;
    this.id = options.workerId ?? `${host}:${pid}:${crypto.randomUUID().slice(0, 8)}`;
    this.logger = options.logger ?? silent;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.db = processTables(options.database);
    this.queue = new PQueue({ concurrency: options.concurrency ?? 4 });
    const names = new Set<string>();
    for (const p of options.processes) {
      if (names.has(p.name)) throw new Error(`two process managers are named ${p.name}`);
      names.add(p.name);
    }
    const { database, store, personalData } = options;
    const privateView = (inner: EventStore, trx: Kysely<Tables>) =>
      personalData ? personalDataStore(inner, personalData.using(trx as Kysely<unknown>)) : inner;
    // Appends commit with the checkpoint when the store lives in this very database.
    const { storeIn } = options;
    const storeFor = storeIn
      ? (trx: Kysely<Tables>, careful: boolean) =>
          // Handlers read and append through the same view (upcast, personal data opened) as everyone else.
          upcastingStore(privateView(storeIn(trx, careful), trx), upcasters)
      : () => store;
    // `prepare` reads through the same view, outside any transaction (none is open then).
    const readStore = storeFor(database.background, false);
    this.runners = options.processes.map(
      (process) =>
        new ProcessRunner({
          process,
          database,
          store,
          storeFor,
          readStore,
          onCommitted: storeIn?.committed,
          queue: this.queue,
          workerId: this.id,
          logger: this.logger,
          sealer: options.sealer,
          partitions: options.partitions ?? 16,
          batchSize: options.batchSize ?? 50,
          maxBuffered: options.maxBuffered ?? 2000,
          onHandled: (count) => {
            this.handled += count;
          },
        }),
    );
  }

  /** Registers, claims a first share of partitions and starts reading. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`worker ${this.id} was already started`);
    this.state = 'running';
    for (const runner of this.runners) await runner.init();
    await registerWorker(this.db, {
      id: this.id,
      host: this.options.host ?? hostname(),
      pid: this.options.pid ?? globalThis.process?.pid ?? 0,
      processes: this.runners.map((r) => r.name),
      leaseMs: this.leaseMs,
    });
    await this.tick();
    for (const runner of this.runners) runner.startReader();
    this.scheduleTick();
    this.logger.info({ worker: this.id, processes: this.runners.map((r) => r.name) }, 'worker started');
  }

  /**
   * Finishes the batch in hand, commits its checkpoint, releases every lease (so others take over
   * at once instead of waiting for it to expire) and marks the worker stopped.
   */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    clearTimeout(this.timer);
    await this.ticking;
    await Promise.all(this.runners.map((r) => r.stop()));
    await this.queue.onIdle();
    await markStopped(this.db, this.id, this.handled);
    this.state = 'stopped';
    this.logger.info({ worker: this.id, handled: this.handled }, 'worker stopped');
  }

  /** Started (registered, first share of partitions claimed) and not stopping. */
  get running(): boolean {
    return this.state === 'running';
  }

  stats(): WorkerStats {
    return {
      id: this.id,
      handled: this.handled,
      partitions: Object.fromEntries(this.runners.map((r) => [r.name, r.active()])),
    };
  }

  private scheduleTick(): void {
    this.timer = setTimeout(
      () => {
        this.ticking = this.tick()
          .catch((error: unknown) => this.logger.error({ worker: this.id, err: error }, 'heartbeat failed'))
          .finally(() => {
            if (this.state === 'running') this.scheduleTick();
          });
      },
      this.options.heartbeatMs ?? Math.max(50, Math.floor(this.leaseMs / 3)),
    );
  }

  /** One heartbeat: prove liveness, renew leases, move towards the fair share, let idle checkpoints move. */
  private async tick(): Promise<void> {
    if (!(await heartbeat(this.db, this.id, this.handled))) {
      // Our row was pruned (a long outage): come back as a new registration.
      await registerWorker(this.db, {
        id: this.id,
        host: this.options.host ?? hostname(),
        pid: this.options.pid ?? globalThis.process?.pid ?? 0,
        processes: this.runners.map((r) => r.name),
        leaseMs: this.leaseMs,
      });
    }
    if (this.state !== 'running') return;
    // Every runner's leases renewed, and its live workers counted, in one statement each (one pair
    // per runner made an idle `warden serve` send five statements a second).
    const names = this.runners.map((r) => r.name);
    const renewed = await renewAllLeases(this.db, this.id, this.leaseMs, names);
    const workers = await countLiveWorkers(this.db);
    for (const runner of this.runners) {
      if (this.state !== 'running') return;
      runner.reconcile(renewed.get(runner.name) ?? []);
      const live = Math.max(1, workers.get(runner.name) ?? 0);
      const share = Math.ceil(runner.partitionCount / live);
      const active = runner.active();
      if (active.length < share) {
        runner.adopt(
          await claimPartitions(this.db, runner.name, this.id, this.leaseMs, share - active.length),
        );
      } else if (active.length > share) {
        await runner.release(active.slice(share));
      }
      runner.advanceIdle();
    }
  }
}

/**
 * Starts a worker for `warden worker` and for the in-process workers of `warden serve`. Run the
 * migrations first. Call `stop()` on shutdown (SIGTERM) so its partitions move on at once.
 */
export async function startWorkers(options: WorkerOptions): Promise<Worker> {
  const worker = new Worker(options);
  await worker.start();
  return worker;
}
