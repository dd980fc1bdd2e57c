import type { Database } from '../../db/database.ts';
import { migrate } from '../../db/migrate.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { RebuildInProgressError, UnknownProjectionError } from './errors.ts';
import { HeadWatcher } from './head-watcher.ts';
import { type EngineLogger, silentLogger } from './logger.ts';
import type { Projection } from './projection.ts';
import type { RebuildProgress, RebuildResult } from './rebuild.ts';
import { rebuildBesideLive, recordRebuildFailure } from './rebuild-beside-live.ts';
import { engineTables, readRows } from './rows.ts';
import { ProjectionRunner } from './runner.ts';
import { assertTableNames } from './schemas.ts';
import { planStart } from './startup.ts';
import { type ProjectionState, type ProjectionStatus, storedState } from './status.ts';
import { sleep, Trigger } from './timing.ts';

export interface ProjectionEngineOptions {
  database: Database;
  store: EventStore;
  projections: readonly Projection[];
  logger?: EngineLogger;
  /** How often the head is polled for events appended elsewhere (default 100 ms). */
  pollIntervalMs?: number;
  /** Events per live catch-up page: one read, one transaction with the checkpoint (default 1,000). */
  batchSize?: number;
  /** Events per rebuild transaction (default 10,000, 5,000 on PGlite; the store reads ≤ 10,000 at once). */
  rebuildBatchSize?: number;
}

export interface RebuildOptions {
  /** Called after each committed batch, outside any transaction; a returned promise is awaited. */
  onProgress?: (progress: RebuildProgress) => void | Promise<void>;
}

/**
 * Runs projections: each one its own checkpointed loop (so one that fails, lags or rebuilds holds
 * up no other), all sharing one poll of the store's head. Read-model writes and checkpoint commit in
 * one transaction; status, read-your-writes waits and zero-downtime rebuilds on top.
 */
export class ProjectionEngine {
  readonly #database: Database;
  readonly #store: EventStore;
  readonly #projections: ReadonlyMap<string, Projection>;
  readonly #runners = new Map<string, ProjectionRunner>();
  readonly #rebuilds = new Map<string, RebuildProgress>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #logger: EngineLogger;
  readonly #pollIntervalMs: number;
  readonly #rebuildBatchSize: number;
  readonly #head: HeadWatcher;
  readonly #changed = new Trigger();
  readonly #id = crypto.randomUUID();
  #lifetime = new AbortController();
  #started = false;
  #ready: Promise<void> | null = null;
  #rebuildCount = 0;

  constructor(options: ProjectionEngineOptions) {
    this.#database = options.database;
    this.#store = options.store;
    this.#logger = options.logger ?? silentLogger;
    this.#pollIntervalMs = options.pollIntervalMs ?? 100;
    // PGlite is one connection: shorter rebuild transactions let queries in more often.
    const rebuildBatch = options.rebuildBatchSize ?? (this.#database.kind === 'pglite' ? 5000 : 10_000);
    this.#rebuildBatchSize = Math.min(rebuildBatch, 10_000);
    this.#head = new HeadWatcher(this.#store, this.#pollIntervalMs, this.#logger);
    const projections = new Map<string, Projection>();
    for (const projection of options.projections) {
      if (projections.has(projection.name)) throw new Error(`two projections are named ${projection.name}`);
      assertTableNames(projection);
      projections.set(projection.name, projection);
      this.#runners.set(
        projection.name,
        new ProjectionRunner({
          database: this.#database,
          store: this.#store,
          projection,
          head: this.#head,
          logger: this.#logger,
          batchSize: Math.min(options.batchSize ?? 1000, 10_000),
          pollIntervalMs: this.#pollIntervalMs,
          onChange: () => this.#changed.fire(),
        }),
      );
    }
    this.#projections = projections;
  }

  /**
   * Migrates the engine's table, creates missing read-model tables and starts every projection from
   * its checkpoint. Projections whose stored version differs are rebuilt in the background (their
   * old tables keep serving meanwhile); a projection recorded as failed is retried.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('the projection engine is already running');
    this.#started = true;
    if (this.#lifetime.signal.aborted) this.#lifetime = new AbortController();
    const signal = this.#lifetime.signal;
    await this.#migrated();
    this.#track(this.#head.run(signal));
    await this.#head.poll().catch(() => 0n);
    for (const projection of this.#projections.values()) {
      const plan = await planStart(this.#database, projection);
      if (plan === 'rebuild') this.#track(this.#rebuildOnStart(projection, signal));
      else this.#runners.get(projection.name)!.start(plan.run, plan.error);
    }
    this.#logger.info({ projections: [...this.#projections.keys()] }, 'projection engine started');
  }

  /**
   * Creates missing read-model tables without running any projection, so a process that only serves
   * the API (`WARDEN_WORKERS=false`) answers queries on a fresh database while the workers elsewhere
   * fill them. Tables of another version are left for the workers' rebuild.
   */
  async prepare(): Promise<void> {
    await this.#migrated();
    for (const projection of this.#projections.values()) await planStart(this.#database, projection);
  }

  /** Stops every projection at a checkpoint (the batch in hand is finished) and any rebuild. */
  async stop(): Promise<void> {
    this.#lifetime.abort();
    await Promise.all([...this.#runners.values()].map((runner) => runner.stop()));
    await Promise.allSettled([...this.#tasks]);
    this.#started = false;
    this.#changed.fire();
  }

  async status(): Promise<ProjectionStatus[]> {
    await this.#migrated();
    const [rows, head] = await Promise.all([
      readRows(engineTables(this.#database.db, this.#database.schema)),
      this.#store.headPosition(),
    ]);
    const statuses: ProjectionStatus[] = [];
    for (const projection of this.#projections.values()) {
      const row = rows.get(projection.name);
      const runner = this.#runners.get(projection.name)!;
      const position = runner.running ? runner.position : (row?.position ?? 0n);
      const rebuild = this.#rebuilds.get(projection.name) ?? row?.rebuild ?? null;
      // Not started here (a CLI next to a running server): show what the running engine recorded.
      let state: ProjectionState;
      if (rebuild) state = 'rebuilding';
      else if (runner.running || runner.state === 'failed') state = runner.state;
      else state = this.#started ? 'stopped' : storedState(row?.state);
      statuses.push({
        name: projection.name,
        version: projection.version,
        position,
        head,
        lag: position >= head ? 0 : await this.#store.countAfter(position),
        state,
        lastError: runner.lastError ?? row?.error ?? null,
        rebuild: rebuild && { done: rebuild.done, total: rebuild.total },
      });
    }
    return statuses;
  }

  /**
   * Read-your-writes: resolves true once every named projection's checkpoint is at or past
   * `position`; false when one of them has failed short of it, or after `timeoutMs`.
   */
  async waitFor(names: string | readonly string[], position: bigint, timeoutMs: number): Promise<boolean> {
    const list = typeof names === 'string' ? [names] : [...names];
    for (const name of list) this.#projection(name);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const changed = this.#changed.wait(Math.max(0, Math.min(deadline - Date.now(), this.#pollIntervalMs)));
      const behind = await this.#behind(list, position);
      if (behind === 'reached') return true;
      if (behind === 'failed' || Date.now() >= deadline) return false;
      // Until the head is past it, the watcher polls for it again and again, not once an interval.
      this.#head.chase(position, deadline - Date.now());
      await changed;
    }
  }

  /**
   * Rebuilds a projection from the first event without downtime (see `rebuildInShadow`). A second
   * rebuild of the same projection, here or in another process, is refused with
   * `RebuildInProgressError`; a failure leaves the live tables as they were (`RebuildFailedError`).
   */
  async rebuild(name: string, options: RebuildOptions = {}): Promise<RebuildResult> {
    const projection = this.#projection(name);
    if (this.#rebuilds.has(name)) throw new RebuildInProgressError(name);
    const progress: RebuildProgress = { done: 0, total: 0 };
    this.#rebuilds.set(name, progress);
    const job = this.#rebuild(projection, progress, options);
    this.#track(job);
    try {
      return await job;
    } finally {
      this.#rebuilds.delete(name);
      this.#changed.fire();
    }
  }

  async #rebuild(projection: Projection, progress: RebuildProgress, options: RebuildOptions) {
    await this.#migrated();
    return rebuildBesideLive({
      database: this.#database,
      store: this.#store,
      projection,
      runner: this.#runners.get(projection.name)!,
      logger: this.#logger,
      batchSize: this.#rebuildBatchSize,
      owner: `${this.#id}/${++this.#rebuildCount}`,
      signal: this.#lifetime.signal,
      progress,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      runsHere: () => this.#started && !this.#lifetime.signal.aborted,
    });
  }

  async #rebuildOnStart(projection: Projection, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.rebuild(projection.name);
        return;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof RebuildInProgressError) {
          // Another process rebuilds it: when it is done, its version may be ours already.
          await sleep(this.#pollIntervalMs * 10, signal);
          const plan = await planStart(this.#database, projection);
          if (plan !== 'rebuild') return this.#runners.get(projection.name)!.start(plan.run, plan.error);
          continue;
        }
        await this.#failRebuild(projection, error);
        return;
      }
    }
  }

  async #failRebuild(projection: Projection, error: unknown): Promise<void> {
    const runner = this.#runners.get(projection.name)!;
    await recordRebuildFailure(this.#database, projection, runner, error, this.#logger);
    this.#changed.fire();
  }

  async #behind(names: readonly string[], position: bigint): Promise<'reached' | 'failed' | 'waiting'> {
    let rows: Awaited<ReturnType<typeof readRows>> | undefined;
    let failed = false;
    for (const name of names) {
      const runner = this.#runners.get(name)!;
      let reached: bigint;
      if (runner.running || runner.state === 'failed' || this.#rebuilds.has(name)) {
        reached = runner.position;
        failed ||= runner.state === 'failed' && !this.#rebuilds.has(name);
      } else {
        // Not run here (a CLI, or a server whose worker runs elsewhere): ask the table.
        rows ??= await readRows(engineTables(this.#database.db, this.#database.schema), names);
        const row = rows.get(name);
        reached = row?.position ?? 0n;
        failed ||= row?.state === 'failed' && !row.rebuild;
      }
      if (reached < position) return failed ? 'failed' : 'waiting';
    }
    return 'reached';
  }

  #projection(name: string): Projection {
    const projection = this.#projections.get(name);
    if (!projection) throw new UnknownProjectionError(name);
    return projection;
  }

  #migrated(): Promise<void> {
    this.#ready ??= migrate(this.#database).then(
      () => {},
      (error: unknown) => {
        this.#ready = null;
        throw error;
      },
    );
    return this.#ready;
  }

  #track(task: Promise<unknown>): void {
    this.#tasks.add(task);
    const forget = () => this.#tasks.delete(task);
    task.then(forget, forget);
  }
}
