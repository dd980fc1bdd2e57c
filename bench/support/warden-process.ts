import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { buildDist } from '../../scripts/build.ts';

/**
 * How a benchmark runs Warden: `dist` (the default) is the production build, `node dist/warden.mjs`,
 * as the container image runs it; `tsx` is the development path, `node --import tsx src/main.ts`, for
 * a side-by-side (BENCH_WARDEN_ENTRY=tsx).
 */
export type WardenEntry = 'dist' | 'tsx';

export function wardenEntry(): WardenEntry {
  const entry = process.env.BENCH_WARDEN_ENTRY ?? 'dist';
  if (entry !== 'dist' && entry !== 'tsx') throw new Error(`BENCH_WARDEN_ENTRY: dist or tsx, not ${entry}`);
  return entry;
}

let built: Promise<unknown> | undefined;

/**
 * Starts `warden <args>` as a process of its own: node itself, no wrapper, so the pid is the process
 * whose memory and CPU a benchmark reads. `nodeArgs` go to node (a CPU profile's flags, say). The
 * build is made afresh once per benchmark run, so it is never older than the sources.
 */
export async function spawnWarden(
  args: string[],
  options: SpawnOptions & { nodeArgs?: string[] },
): Promise<ChildProcess> {
  const { nodeArgs = [], ...spawnOptions } = options;
  const entry = wardenEntry();
  if (entry === 'dist') {
    built ??= buildDist();
    await built;
  }
  const main = entry === 'dist' ? ['dist/warden.mjs'] : ['--import', 'tsx', 'src/main.ts'];
  return spawn(process.execPath, [...nodeArgs, ...main, ...args], spawnOptions);
}
