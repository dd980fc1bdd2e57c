import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/worker-process.ts', import.meta.url));

/** A line the fixture prints: `started`, `stats` (on every change) or `stopped`. */
export interface Line {
  t: 'started' | 'stats' | 'stopped';
  at: number;
  handled?: number;
  partitions?: number[];
}

/** A real worker process (`node --import tsx`), with its output lines and exit. */
export class WorkerProcess {
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: { ...process.env, WORKER_ID: name, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      this.lines.push(JSON.parse(text) as Line);
      for (const wake of this.waiters) wake();
    });
    createInterface({ input: this.child.stderr! }).on('line', (text) => {
      this.stderr.push(text);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
        for (const wake of this.waiters) wake();
      });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last `stats` line. */
  get stats(): Line | undefined {
    return this.lines.findLast((l) => l.t === 'stats');
  }

  /** Resolves with the first line (printed so far or later) that matches, or fails after the timeout. */
  waitFor(what: string, match: (line: Line) => boolean, timeoutMs = 60_000): Promise<Line> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find(match);
        if (line) return done(() => resolve(line));
        if (!this.alive) done(() => reject(this.failure(`exited while waiting for ${what}`)));
      };
      const timer = setTimeout(
        () => done(() => reject(this.failure(`timed out waiting for ${what}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** SIGTERM (graceful stop) and wait for the exit. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill('SIGTERM');
    return this.exited;
  }

  private failure(message: string): Error {
    return new Error(`${this.name}: ${message}\nstderr:\n${this.stderr.slice(-20).join('\n')}`);
  }
}

/** Events per second from its first handled batch to its last. */
export function rate(worker: WorkerProcess): { handled: number; perSecond: number } {
  const stats = worker.lines.filter((l) => l.t === 'stats' && (l.handled ?? 0) > 0);
  const first = stats[0];
  const last = stats[stats.length - 1];
  if (!first || !last || last.at === first.at) return { handled: last?.handled ?? 0, perSecond: 0 };
  return {
    handled: last.handled!,
    perSecond: Math.round(((last.handled! - first.handled!) * 1000) / (last.at - first.at)),
  };
}
