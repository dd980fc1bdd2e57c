import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * A child process keeps 300,000 small objects alive while replacing them (as a worker keeps its
 * in-flight jobs while finishing others) and reports the largest heap it reached. The same churn with
 * the growth bounded must reach a much smaller heap: V8's own choice lets it grow to about four times
 * the live data on this machine, 50% to about one and a half.
 */
const CHURN = `
  import { boundHeapGrowth } from './src/runtime/heap.ts';
  import v8 from 'node:v8';
  boundHeapGrowth(Number(process.argv.at(-1)));
  const live = [];
  let peak = 0;
  for (let i = 0; i < 2_000_000; i++) {
    live.push({ i, text: 'payload-' + i, list: [i, i + 1] });
    if (live.length > 300_000) live.splice(0, 1000);
    if (i % 20_000 === 0) peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
  }
  console.log(peak);
`;

async function peakHeap(percent: number): Promise<number> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', CHURN, '--', String(percent)],
    { cwd: process.cwd(), encoding: 'utf8' },
  );
  return Number(stdout.trim());
}

describe('boundHeapGrowth', () => {
  it('holds a churning heap near its live data, where V8 alone lets it grow several times over', async () => {
    const [own, bounded] = await Promise.all([peakHeap(0), peakHeap(50)]);
    expect(own).toBeGreaterThan(0);
    expect(bounded).toBeLessThan(own * 0.75);
  }, 60_000);
});
