import { readFileSync } from 'node:fs';

/**
 * CPU time spent per event by this process and by the PostgreSQL backends serving its pool. On a
 * shared machine the wall-clock rates move with everyone else's load; CPU time per event moves much
 * less, and when the run is CPU-bound (2 cores for Node and PostgreSQL) it is what the rates follow.
 * Backend time is read from /proc, so it is only known when the server runs on this machine.
 */
export interface CpuCost {
  /** This Node process (user + system), µs per event. */
  clientMicros: number;
  /** The pool's backends (user + system), µs per event; null when the server is not local. */
  serverMicros: number | null;
}

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ). */
export const MICROS_PER_TICK = 10_000;

/**
 * A process's or thread's name and CPU time so far (user + system, in clock ticks) from its `stat`
 * file (`/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat`); null when it is gone.
 */
export function statTicks(statPath: string): { comm: string; ticks: number } | null {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const close = stat.lastIndexOf(')');
    // After "pid (comm) ", utime and stime are the 12th and 13th fields.
    const fields = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/** A process's CPU time so far (user + system), in clock ticks; null when it is gone. */
function processTicks(pid: number): number | null {
  return statTicks(`/proc/${pid}/stat`)?.ticks ?? null;
}

/** Another process's CPU time so far (user + system), in ms; 0 when it is unknown or gone. */
export function processCpuMs(pid: number | undefined): number {
  const ticks = pid === undefined ? null : processTicks(pid);
  return ticks === null ? 0 : (ticks * MICROS_PER_TICK) / 1000;
}

/** Runs `run`, with the CPU (ms) it took meanwhile in this process and in process `pid`. */
export async function cpuDuring<T>(
  pid: number | undefined,
  run: () => Promise<T>,
): Promise<{ result: T; selfMs: number; otherMs: number }> {
  const [self, otherBefore] = [process.cpuUsage(), processCpuMs(pid)];
  const result = await run();
  const used = process.cpuUsage(self);
  return { result, selfMs: (used.user + used.system) / 1000, otherMs: processCpuMs(pid) - otherBefore };
}

function backendTicks(pid: number): number | null {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') return null;
  } catch {
    return null;
  }
  return processTicks(pid);
}

/**
 * Finds the backend pids behind a pool by keeping `size` queries in flight at once, which makes the
 * pool open (or reuse) every connection it has. `query` must answer `select pg_backend_pid()` after a
 * short sleep, through the pool under test.
 */
export async function backendPids(size: number, query: () => Promise<number>): Promise<number[]> {
  const pids = await Promise.all(Array.from({ length: size }, () => query()));
  return [...new Set(pids)];
}

/** SQL for `backendPids`: the sleep keeps each connection busy so the pool hands out all of them. */
export const BACKEND_PID_SQL = 'select pg_backend_pid() as pid from pg_sleep(0.05)';

/** What a measured window reads its CPU cost with: started at the window's start, stopped at its end. */
export interface CpuMeter {
  start(): void;
  /** Cost per event of the work done since `start`. */
  stop(events: number): CpuCost;
}

/** Reads CPU counters at the start and end of a measured window. */
export class CpuWindow implements CpuMeter {
  private node = process.cpuUsage();
  private server: number | null = null;

  constructor(private readonly pids: readonly number[]) {}

  start(): void {
    this.node = process.cpuUsage();
    this.server = this.serverTicks();
  }

  /** Cost per event of the work done since `start`. */
  stop(events: number): CpuCost {
    const node = process.cpuUsage(this.node);
    const server = this.serverTicks();
    const n = Math.max(events, 1);
    return {
      clientMicros: (node.user + node.system) / n,
      serverMicros:
        server === null || this.server === null ? null : ((server - this.server) * MICROS_PER_TICK) / n,
    };
  }

  private serverTicks(): number | null {
    if (this.pids.length === 0) return null;
    let total = 0;
    for (const pid of this.pids) {
      const ticks = backendTicks(pid);
      if (ticks === null) return null;
      total += ticks;
    }
    return total;
  }
}
