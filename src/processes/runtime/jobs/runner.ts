import { setTimeout as wait } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { ProcessLogger } from '../process-manager.ts';
import { claim, complete, type Job, type JobTables, release, renew, reschedule } from './queue.ts';

/** An error a job may throw: `retryable` ones are tried again later, others end the job. */
export interface JobError extends Error {
  retryable?: boolean;
}

export interface JobRunnerOptions {
  db: Kysely<JobTables>;
  queue: string;
  /** The worker's id: claimed jobs show it (`/v1/admin/workers`). */
  owner: string;
  /** Jobs run at once in this process. */
  concurrency: number;
  /** A claimed job is this worker's until then; renewed while it runs. */
  leaseMs?: number;
  /**
   * How often an idle runner looks for due jobs anyway. It is woken at once by {@link JobRunner.wake}
   * (a NOTIFY when jobs are queued or released), when one of its jobs ends, and when a job it put
   * back for later falls due, so the poll only catches what a lost notice missed.
   */
  pollMs?: number;
  /**
   * How long {@link JobRunner.stop} waits for jobs to end once it has aborted them (a tool run's
   * abort sends SIGTERM, then SIGKILL after its own grace). A job still running then is left to its
   * lease, no longer renewed, and the stop returns: a job that ignores its signal never holds a
   * shutdown forever.
   */
  abortWaitMs?: number;
  /** Attempts of a retryable failure before giving up. */
  maxAttempts: number;
  /** Delay before attempt n + 1 (n ≥ 1). */
  backoffMs?: (attempts: number) => number;
  run(job: Job, signal: AbortSignal): Promise<void>;
  /** The job failed for good (permanent error, or retries used up): record it, then it leaves the queue. */
  giveUp(job: Job, error: JobError, attempts: number): Promise<void>;
  logger: ProcessLogger;
}

const defaultBackoff = (attempts: number) => Math.min(60_000, 1000 * 2 ** (attempts - 1));

/**
 * Runs the jobs of one queue in this process: claims due jobs up to its concurrency, runs each with
 * no database transaction open, and completes, reschedules (with backoff) or gives up on each.
 */
export class JobRunner {
  private readonly running = new Map<string, { job: Job; startedAt: number; abort: AbortController }>();
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** A wake-up came while the loop was not waiting: look again before sleeping. */
  private woken = false;
  /**
   * Due jobs may be waiting that this runner has not claimed: its last claim filled every free slot,
   * or a wake-up came since. Only then does a job's end look again; otherwise the queue held nothing
   * more when it last looked, and anything queued since wakes it (a claim that finds nothing is a
   * statement each, two of them a job before: bench:tools).
   */
  private mayHaveDue = true;
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();
  private renewTimer: ReturnType<typeof setInterval> | undefined;
  private readonly leaseMs: number;
  private readonly pollMs: number;

  constructor(private readonly options: JobRunnerOptions) {
    this.leaseMs = options.leaseMs ?? 60_000;
    this.pollMs = options.pollMs ?? 1000;
  }

  start(): void {
    if (this.loop) return;
    this.renewTimer = setInterval(() => {
      renew(this.options.db, this.options.owner, [...this.running.keys()], this.leaseMs).catch((error) =>
        this.options.logger.warn({ err: error, queue: this.options.queue }, 'renewing job leases failed'),
      );
    }, this.leaseMs / 3);
    this.loop = this.run();
  }

  /** Looks for due jobs now (jobs were just queued, released or fell due). */
  wake(): void {
    this.woken = true;
    this.mayHaveDue = true;
    this.wakeUp?.();
  }

  /** What runs here now: kind, subject and for how long. */
  current(): { id: string; kind: string; subject: string; runningMs: number }[] {
    const now = Date.now();
    return [...this.running.values()].map(({ job, startedAt }) => ({
      id: job.id,
      kind: job.kind,
      subject: job.subject,
      runningMs: now - startedAt,
    }));
  }

  /**
   * Stops claiming and waits for running jobs: after `graceMs` they are aborted, and after
   * `abortWaitMs` more, any still running is left to its lease (renewed no longer, so another worker
   * takes it once it lapses) and the stop returns.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.wakeUp?.();
    await this.loop;
    const settled = this.settled().then(() => true);
    /** Whether the running jobs end within `ms` (its timer dropped once they have). */
    const endWithin = async (ms: number) => {
      const timer = new AbortController();
      const ended = await Promise.race([
        settled,
        wait(ms, false, { signal: timer.signal }).catch(() => true),
      ]);
      timer.abort();
      return ended;
    };
    if (!(await endWithin(graceMs))) {
      for (const { abort } of this.running.values()) abort.abort(new Error('worker stopping'));
      if (!(await endWithin(this.options.abortWaitMs ?? 5000))) {
        this.options.logger.warn(
          { queue: this.options.queue, jobs: this.current() },
          'jobs still running after their abort: left to their leases',
        );
      }
    }
    clearInterval(this.renewTimer);
  }

  private inFlight = new Set<Promise<void>>();

  private async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async run(): Promise<void> {
    const { db, queue, owner, concurrency, logger } = this.options;
    while (!this.stopping) {
      this.woken = false;
      const free = concurrency - this.running.size;
      let claimed: Job[] = [];
      if (free > 0) {
        this.mayHaveDue = false;
        try {
          claimed = await claim(db, queue, owner, free, this.leaseMs);
        } catch (error) {
          logger.error({ err: error, queue }, 'claiming jobs failed; retrying');
        }
        // Every slot filled: more may be due. Fewer: the queue had no more (a failed claim is looked
        // at again by the poll).
        if (claimed.length === free) this.mayHaveDue = true;
      }
      if (this.stopping) {
        await release(
          db,
          owner,
          claimed.map((j) => j.id),
        ).catch(() => undefined);
        break;
      }
      for (const job of claimed) this.begin(job);
      // Full, or nothing more due: wait for a job to end, a wake-up or the poll interval.
      if ((claimed.length < free || this.running.size >= concurrency) && !this.woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = undefined;
      }
    }
  }

  private begin(job: Job): void {
    const abort = new AbortController();
    this.running.set(job.id, { job, startedAt: Date.now(), abort });
    const task = this.attempt(job, abort.signal).finally(() => {
      this.running.delete(job.id);
      this.inFlight.delete(task);
      if (this.mayHaveDue) this.wake();
    });
    this.inFlight.add(task);
  }

  /** Looks again when a job put back for `delayMs` falls due (the database clock may differ a little). */
  private wakeAfter(delayMs: number): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.wake();
    }, delayMs + 20);
    this.retryTimers.add(timer);
  }

  private async attempt(job: Job, signal: AbortSignal): Promise<void> {
    const { db, owner, logger } = this.options;
    try {
      await this.options.run(job, signal);
      await complete(db, job.id, owner);
    } catch (caught) {
      const error = (caught instanceof Error ? caught : new Error(String(caught))) as JobError;
      const attempts = job.attempts + 1;
      try {
        if (error.retryable && attempts < this.options.maxAttempts && !this.stopping) {
          const delay = (this.options.backoffMs ?? defaultBackoff)(attempts);
          logger.warn(
            {
              queue: job.queue,
              kind: job.kind,
              subject: job.subject,
              attempts,
              retryInMs: delay,
              err: error,
            },
            'job failed; retrying',
          );
          await reschedule(db, job.id, owner, delay, error.message);
          this.wakeAfter(delay);
        } else if (error.retryable && this.stopping) {
          await reschedule(db, job.id, owner, 0, error.message);
        } else {
          logger.warn(
            { queue: job.queue, kind: job.kind, subject: job.subject, attempts, err: error },
            'job failed',
          );
          await this.options.giveUp(job, error, attempts);
          await complete(db, job.id, owner);
        }
      } catch (recording) {
        // The lease runs out and the job is tried again: nothing is lost.
        logger.error(
          { err: recording, queue: job.queue, subject: job.subject },
          'recording a job failure failed',
        );
      }
    }
  }
}
