import { readdirSync, readFileSync } from 'node:fs';
import { median } from './measure.ts';

/**
 * Where a window's CPU went, across every process taking part: the server by thread (its event
 * loop, libuv's pool, V8's helpers), every PostgreSQL process on the machine (backends, WAL writer,
 * checkpointer), and the benchmark's own process. A rate ratio says a path is slower than its
 * baseline; this says on which process and thread the extra time is spent. Read from /proc, so
 * Linux only; elsewhere every share is 0.
 */
export type Ledger = Map<string, number>;

/** Linux reports times in clock ticks of 1/100 s (USER_HZ). */
const MS_PER_TICK = 10;

function ticksOf(statPath: string): { comm: string; ticks: number } | null {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // After "pid (comm) ", utime and stime are the 12th and 13th fields.
    return { comm: stat.slice(open + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
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
    const t = ticksOf(`/proc/${pid}/task/${tid}/stat`);
    if (t) add(ledger, Number(tid) === pid ? 'server: event loop' : 'server: other threads', t.ticks);
  }
}

/** A snapshot of the ticks so far, per share. */
export function cpuSnapshot(serverPid: number | undefined): Ledger {
  const ledger: Ledger = new Map();
  if (serverPid !== undefined) serverThreads(ledger, serverPid);
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return ledger;
  }
  for (const pid of pids) {
    if (Number(pid) === serverPid) continue;
    const p = ticksOf(`/proc/${pid}/stat`);
    if (!p) continue;
    if (p.comm === 'postgres') add(ledger, 'postgres (all processes)', p.ticks);
    else if (Number(pid) === process.pid) add(ledger, 'benchmark process', p.ticks);
  }
  return ledger;
}

/** CPU ms per unit of work in each share between two snapshots, largest first. */
export function cpuPerUnit(before: Ledger, after: Ledger, units: number): [string, number][] {
  const rows: [string, number][] = [];
  for (const [key, ticks] of after) {
    const spent = (ticks - (before.get(key) ?? 0)) * MS_PER_TICK;
    if (spent > 0) rows.push([key, spent / Math.max(units, 1)]);
  }
  return rows.sort((a, b) => b[1] - a[1]);
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
