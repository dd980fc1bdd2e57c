import { readdirSync, readFileSync } from 'node:fs';
import { type CpuCost, type CpuMeter, MICROS_PER_TICK, statTicks } from './cpu.ts';
import { median } from './measure.ts';

/**
 * Where a window's CPU went, across every process taking part: the server by thread (its event
 * loop, libuv's pool, V8's helpers), every PostgreSQL process on the machine (backends, WAL writer,
 * checkpointer), and the benchmark's own process. A rate ratio says a path is slower than its
 * baseline; this says on which process and thread the extra time is spent. Read from /proc, so
 * Linux only; elsewhere every share is 0.
 */
export class Ledger extends Map<string, number> {
  /** The share holding the machine's busy ticks, which `cpuPerUnit` makes what the others leave. */
  rest: string | undefined;
}

function add(ledger: Ledger, key: string, ticks: number) {
  ledger.set(key, (ledger.get(key) ?? 0) + ticks);
}

/**
 * The server's threads: "server: event loop" (the main thread) and "server: other threads" (libuv's
 * pool, where argon2, crypto and file calls run, and V8's compiler and GC helpers).
 */
function serverThreads(ledger: Ledger, pid: number) {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    const t = statTicks(`/proc/${pid}/task/${tid}/stat`);
    if (t) add(ledger, Number(tid) === pid ? 'server: event loop' : 'server: other threads', t.ticks);
  }
}

/** Busy ticks of every CPU so far (user, nice, system, interrupts, steal: all but idle and I/O wait). */
function machineTicks(): number | null {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
    const ticks = fields.map(Number);
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    return ticks.slice(0, 8).reduce((sum, t) => sum + t, 0) - ticks[3]! - ticks[4]!;
  } catch {
    return null;
  }
}

export interface SnapshotOptions {
  /**
   * Also a share for what the machine spent beyond the other shares (processes that exited within
   * the window, others on the machine, the kernel), named so: read from the machine's busy ticks.
   */
  rest?: string;
  /** A share of its own for another process (by pid and name), e.g. a helper the server starts. */
  classify?: (pid: number, comm: string) => string | undefined;
}

/** A snapshot of the ticks so far, per share. */
export function cpuSnapshot(serverPid: number | undefined, options: SnapshotOptions = {}): Ledger {
  const ledger = new Ledger();
  if (options.rest !== undefined) {
    const ticks = machineTicks();
    if (ticks !== null) {
      ledger.rest = options.rest;
      add(ledger, options.rest, ticks);
    }
  }
  if (serverPid !== undefined) serverThreads(ledger, serverPid);
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return ledger;
  }
  for (const pid of pids) {
    if (Number(pid) === serverPid) continue;
    const p = statTicks(`/proc/${pid}/stat`);
    if (!p) continue;
    const own = options.classify?.(Number(pid), p.comm);
    if (own) add(ledger, own, p.ticks);
    else if (p.comm === 'postgres') add(ledger, 'postgres (all processes)', p.ticks);
    else if (Number(pid) === process.pid) add(ledger, 'benchmark process', p.ticks);
  }
  return ledger;
}

/** CPU ms per unit of work in each share between two snapshots, largest first. */
export function cpuPerUnit(before: Ledger, after: Ledger, units: number): [string, number][] {
  const spent = (key: string, ticks: number) => ((ticks - (before.get(key) ?? 0)) * MICROS_PER_TICK) / 1000;
  const named = [...after].filter(([key]) => key !== after.rest);
  const rows: [string, number][] = named.map(([key, ticks]) => [key, spent(key, ticks)]);
  const namedMs = rows.reduce((sum, [, ms]) => sum + ms, 0);
  if (after.rest !== undefined)
    rows.push([after.rest, spent(after.rest, after.get(after.rest) ?? 0) - namedMs]);
  return rows
    .filter(([, ms]) => ms > 0)
    .map(([key, ms]): [string, number] => [key, ms / Math.max(units, 1)])
    .sort((a, b) => b[1] - a[1]);
}

/** Each share's median over rounds (a share absent from a round counts 0), largest first, and their sum. */
export function medianLedger(perRound: readonly [string, number][][]): {
  total: number;
  shares: [string, number][];
} {
  const keys = new Set(perRound.flatMap((rows) => rows.map(([key]) => key)));
  const shares = [...keys]
    .map((key): [string, number] => [
      key,
      median(perRound.map((rows) => rows.find(([k]) => k === key)?.[1] ?? 0)),
    ])
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1]);
  return { total: shares.reduce((sum, [, ms]) => sum + ms, 0), shares };
}

/**
 * A measured window's ledger per unit of work, handed to `report` at the window's end; as a
 * `CpuMeter`, its cost is this process's CPU (the client) and the server's, both threads.
 */
export class LedgerWindow implements CpuMeter {
  private before = new Ledger();

  constructor(
    private readonly serverPid: number | undefined,
    private readonly report: (rows: [string, number][]) => void,
  ) {}

  start(): void {
    this.before = cpuSnapshot(this.serverPid);
  }

  stop(events: number): CpuCost {
    const rows = cpuPerUnit(this.before, cpuSnapshot(this.serverPid), events);
    this.report(rows);
    const micros = (match: (key: string) => boolean) =>
      rows.filter(([key]) => match(key)).reduce((sum, [, ms]) => sum + ms * 1000, 0);
    return {
      clientMicros: micros((key) => key === 'benchmark process'),
      serverMicros: this.serverPid === undefined ? null : micros((key) => key.startsWith('server: ')),
    };
  }
}
