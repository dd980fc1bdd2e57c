import { performance } from 'node:perf_hooks';
import type { CpuCost, CpuMeter } from './cpu.ts';

/** Events completed per second over a measured window. */
export interface Throughput {
  events: number;
  seconds: number;
  perSecond: number;
  /** CPU time per event in the window, when it was measured. */
  cpu?: CpuCost;
}

/** One unit of work of one worker; resolves to the number of events (rows) it wrote or read. */
export type Step = (worker: number) => Promise<number>;

export interface WindowOptions {
  /** Work done before the window opens (connections opened, plans cached, JIT warm) is not counted. */
  warmupMs: number;
  windowMs: number;
  /** The window closes early once this many events are counted, bounding what a fast run leaves behind. */
  maxEvents?: number;
  cpu?: CpuMeter;
}

/**
 * Runs `workers` loops of `step` back to back (each waits for its previous step, like a client that
 * waits for its commit) and counts the events of steps that finish inside the measured window.
 */
export async function runConcurrent(
  workers: number,
  step: Step,
  options: WindowOptions,
): Promise<Throughput> {
  let counting = false;
  let stop = false;
  let events = 0;
  let failure: unknown;
  let closeWindow = () => {};
  const loops = Array.from({ length: workers }, async (_, worker) => {
    while (!stop) {
      try {
        const n = await step(worker);
        if (counting) {
          events += n;
          if (options.maxEvents !== undefined && events >= options.maxEvents) closeWindow();
        }
      } catch (error) {
        failure ??= error;
        stop = true;
      }
    }
  });
  await sleep(options.warmupMs);
  counting = true;
  options.cpu?.start();
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, options.windowMs);
    closeWindow = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  counting = false;
  const seconds = (performance.now() - start) / 1000;
  const counted = events;
  const cpu = options.cpu?.stop(counted);
  stop = true;
  await Promise.all(loops);
  if (failure) throw failure;
  return { events: counted, seconds, perSecond: counted / seconds, ...(cpu ? { cpu } : {}) };
}

/** A workload measured once per round. */
export interface Contender {
  name: string;
  run: () => Promise<Throughput>;
}

/**
 * Runs every contender once per round, rotating (and every other round reversing) the order, so no
 * contender always follows the same neighbour or always runs first while the shared machine's load
 * changes. Returns each contender's samples in round order.
 */
export async function rounds(
  contenders: readonly Contender[],
  count: number,
): Promise<Map<string, Throughput[]>> {
  const samples = new Map<string, Throughput[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < count; round++) {
    const rotated = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
    const order = round % 2 === 0 ? rotated : rotated.reverse();
    for (const contender of order) samples.get(contender.name)!.push(await contender.run());
  }
  return samples;
}

/** The median sample's rate and CPU cost per event (each taken as a median on its own). */
export function summarize(samples: readonly Throughput[]): Throughput {
  const events = samples.reduce((sum, s) => sum + s.events, 0);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const cpus = samples.flatMap((s) => (s.cpu ? [s.cpu] : []));
  const servers = cpus.flatMap((c) => (c.serverMicros === null ? [] : [c.serverMicros]));
  return {
    events,
    seconds,
    perSecond: median(samples.map((s) => s.perSecond)),
    ...(cpus.length > 0
      ? {
          cpu: {
            clientMicros: median(cpus.map((c) => c.clientMicros)),
            serverMicros: servers.length === cpus.length ? median(servers) : null,
          },
        }
      : {}),
  };
}

/**
 * Median over rounds of `a`'s rate divided by `b`'s rate in the same round: each ratio compares two
 * windows measured seconds apart, which cancels most of the drift in the machine's load.
 */
export function pairedRatio(a: readonly Throughput[], b: readonly Throughput[]): number {
  return median(a.map((s, i) => s.perSecond / b[i]!.perSecond));
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Times one pass of work that reports how many events it handled. */
export async function timed(work: () => Promise<number>, cpuWindow?: CpuMeter): Promise<Throughput> {
  cpuWindow?.start();
  const start = performance.now();
  const events = await work();
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuWindow?.stop(events);
  return { events, seconds, perSecond: events / seconds, ...(cpu ? { cpu } : {}) };
}

/** `run` called `warmup` times untimed, then `samples` times one after another: each call's ms. */
export async function sampleMs(
  run: (i: number) => Promise<void>,
  warmup: number,
  samples: number,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run(i);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await run(i);
    times.push(performance.now() - start);
  }
  return times;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
