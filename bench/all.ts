/**
 * `npm run bench:all` — every benchmark, one after another, each as its own `npm run bench:<name>`
 * would run it (defaults, its own process), then one table of every target: the figure, the target,
 * whether it was met, and the machine's load average while that benchmark ran (sampled every 5 s).
 * Each benchmark's last line is JSON carrying `verdicts` (support/report.ts `verdict`); a benchmark
 * that fails or prints none gets a row saying so, and the run goes on.
 *
 * `BENCH_ALL_ONLY=auth,oauth` runs a subset; `BENCH_ALL_WRITE=1` also writes the table into the
 * README between its `bench:all` markers (in the Measured section). `bench:scale` is not part of it:
 * it is the long growth run, started on its own. About 40 minutes on two cores.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Verdict } from './support/report.ts';

const BENCHES = [
  'eventstore',
  'replay',
  'tracker',
  'auth',
  'oauth',
  'pipeline',
  'tools',
  'workspaces',
  'agent-stats',
  'uploads',
  'images',
  'pglite',
] as const;
const README = fileURLToPath(new URL('../README.md', import.meta.url));
const BEGIN = '<!-- bench:all:begin -->';
const END = '<!-- bench:all:end -->';
const LOAD_SAMPLE_MS = 5000;

interface Outcome {
  bench: string;
  exitCode: number | null;
  seconds: number;
  load: { mean: number; min: number; max: number };
  verdicts: Verdict[];
}

/** The last stdout line that is a JSON object with `verdicts`. */
export function verdictsOf(stdout: string): Verdict[] | undefined {
  const lines = stdout.trimEnd().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as { verdicts?: Verdict[] };
      if (Array.isArray(parsed.verdicts)) return parsed.verdicts;
    } catch {
      // not the JSON line; keep looking
    }
  }
  return undefined;
}

function run(bench: string): Promise<Outcome> {
  const started = performance.now();
  const loads = [os.loadavg()[0] ?? 0];
  const sampler = setInterval(() => loads.push(os.loadavg()[0] ?? 0), LOAD_SAMPLE_MS);
  const child = spawn(process.execPath, ['--import', 'tsx', `bench/${bench}.ts`], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    process.stdout.write(chunk);
  });
  return new Promise((resolve) => {
    child.on('close', (exitCode) => {
      clearInterval(sampler);
      loads.push(os.loadavg()[0] ?? 0);
      const verdicts = verdictsOf(stdout) ?? [];
      resolve({
        bench,
        exitCode,
        seconds: (performance.now() - started) / 1000,
        load: {
          mean: loads.reduce((a, b) => a + b, 0) / loads.length,
          min: Math.min(...loads),
          max: Math.max(...loads),
        },
        verdicts,
      });
    });
  });
}

const fixed = (n: number, digits = 1) => n.toFixed(digits);
const shown = (v: number | null) =>
  v === null ? 'not measured' : Number.isInteger(v) ? v.toLocaleString('en') : String(v);

export function table(outcomes: readonly Outcome[], heading: string): string {
  const rows = [
    heading,
    '',
    '| benchmark | figure | measured | target | met? | load (mean, min–max) | time |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const o of outcomes) {
    const load = `${fixed(o.load.mean)} (${fixed(o.load.min)}–${fixed(o.load.max)})`;
    const time = `${Math.round(o.seconds)} s`;
    if (o.exitCode !== 0 || o.verdicts.length === 0) {
      const why = o.exitCode !== 0 ? `failed (exit ${o.exitCode})` : 'printed no verdicts';
      rows.push(`| \`bench:${o.bench}\` | ${why} | | | | ${load} | ${time} |`);
      continue;
    }
    for (const v of o.verdicts) {
      const met = v.met === null ? 'n/a' : v.met ? 'yes' : '**no**';
      rows.push(
        `| \`bench:${o.bench}\` | \`${v.figure}\` | ${shown(v.value)} | ${v.target} | ${met} | ${load} | ${time} |`,
      );
    }
  }
  const all = outcomes.flatMap((o) => o.verdicts);
  rows.push('', `${all.filter((v) => v.met).length} of ${all.length} targets met.`);
  return rows.join('\n');
}

function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head} with uncommitted changes` : head;
  } catch {
    return 'an unknown revision';
  }
}

async function main() {
  const only = process.env.BENCH_ALL_ONLY?.split(',').map((s) => s.trim());
  const chosen = BENCHES.filter((b) => !only || only.includes(b));
  // The code the run starts from: each benchmark reads the working tree when it starts.
  const measured = revision();
  const outcomes: Outcome[] = [];
  for (const [i, bench] of chosen.entries()) {
    process.stdout.write(
      `\n=== [${i + 1}/${chosen.length}] bench:${bench} (load ${fixed(os.loadavg()[0] ?? 0)}) ===\n`,
    );
    outcomes.push(await run(bench));
  }
  const heading =
    `One \`npm run bench:all\` started at \`${measured}\`, ${new Date().toISOString().slice(0, 10)}: ` +
    `${os.availableParallelism()} cores, Node ${process.version}, every benchmark at its defaults, one after another; ` +
    "the load average is the machine's 1-minute figure sampled every 5 s while each ran.";
  const markdown = table(outcomes, heading);
  process.stdout.write(`\n${markdown}\n`);
  if (process.env.BENCH_ALL_WRITE === '1') {
    const readme = readFileSync(README, 'utf8');
    const begin = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    if (begin < 0 || end < begin) throw new Error(`README has no ${BEGIN} … ${END} section`);
    writeFileSync(README, `${readme.slice(0, begin + BEGIN.length)}\n${markdown}\n${readme.slice(end)}`);
    process.stdout.write('README Measured table written.\n');
  }
  if (outcomes.some((o) => o.exitCode !== 0)) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
