/**
 * `npm run bench:pipeline` — issue 5's benchmark, and issue 20 item 5 (median of rounds). In one run,
 * with real Verdaccio registries on loopback (an upstream holding N generated packages):
 *   (a) plain `npm ci --ignore-scripts --no-audit` of a lockfile naming the N packages, from the
 *       upstream, with an empty cache;
 *   (b) Warden, from submitting the same lockfile to every package published (scanning on, the
 *       default policy with auto-approval), with the API and a separate `warden worker` process on
 *       PostgreSQL (DATABASE_URL or the local server), then `npm ci` of the lockfile from the secure
 *       target registry (empty cache): what a team waits for before its install is done;
 *   (c) the floor of the publishing: the same tarballs published straight to a fresh Verdaccio.
 * (a) and (b) run in `BENCH_ROUNDS` (default 5) interleaved rounds, the order alternating, each from
 * cold: a fresh npm cache, and for Warden a fresh database, fresh processes and a fresh target registry.
 * The judged figure `pipeline_vs_npm_install` is the median of the per-round ratios (b)/(a), with their
 * spread; target ≤ 1.5. The last round's events give a per-stage breakdown (each package's events carry
 * the time of their step). Also the worker's peak RSS (target < 300 MB). Not a test; the last line is
 * one JSON object. `BENCH_PACKAGES` sets N (default 500); `BENCH_CPU_PROFILE` a folder where the API and
 * the worker write V8 CPU profiles; `BENCH_TIMELINE` a file for the last round's raw event timeline.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import PQueue from 'p-queue';
import pg from 'pg';
import { freePort, signIn, until, untilReady } from '../test/support/cli.ts';
import { publishFixture } from '../test/support/fixture-packages.ts';
import { startVerdaccio } from '../test/support/verdaccio.ts';
import { median } from './support/measure.ts';
import { printTable, round, verdict } from './support/report.ts';
import { spawnWarden, wardenEntry } from './support/warden-process.ts';

const exec = promisify(execFile);
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_PACKAGES ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TARGET = 1.5;
const PASSWORD = 'plum-orbit-kettle-47';

/** Peak resident set (VmHWM) of a process, in MB, from /proc. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function warden(args: string[], env: Record<string, string>): Promise<ChildProcess> {
  // BENCH_CPU_PROFILE=<folder>: each Warden process writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`]
    : [];
  return spawnWarden(args, {
    nodeArgs: profile,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

interface WardenRound {
  /** Submit → every package published. */
  pipelineMs: number;
  /** `npm ci` from the target registry afterwards, empty cache. */
  installMs: number;
  peakMb: number;
  events: TimelineRow[];
  stageStats: { stage: string; p50_ms: number | null; p95_ms: number | null }[];
}

interface TimelineRow {
  type: string;
  stream_id: string;
  at: string | null;
  recorded_at: Date;
}

const loadavg = () => os.loadavg()[0] ?? 0;

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'warden-bench-pipeline-'));
  const upstream = await startVerdaccio();
  const url = process.env.DATABASE_URL || DEFAULT_URL;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const loadStart = loadavg();
  try {
    console.log(
      `bench:pipeline — ${N} packages, ${ROUNDS} interleaved rounds (order alternating), each from cold; ` +
        `${os.availableParallelism()} cores, load average ${loadStart.toFixed(2)}`,
    );
    process.stderr.write(`publishing ${N} packages to the upstream…\n`);
    const queue = new PQueue({ concurrency: 16 });
    const names = Array.from({ length: N }, (_, i) => `bench-pkg-${String(i).padStart(4, '0')}`);
    await queue.addAll(names.map((n) => () => publishFixture(upstream, { name: n, version: '1.0.0' })));

    const project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'bench-app',
        version: '1.0.0',
        dependencies: Object.fromEntries(names.map((n) => [n, '1.0.0'])),
      }),
    );
    const npm = (registry: string, args: string[], cache: string) => {
      writeFileSync(join(project, '.npmrc'), `registry=${registry}/\nreplace-registry-host=always\n`);
      return exec('npm', [...args, '--cache', cache, '--no-audit', '--no-fund', '--ignore-scripts'], {
        cwd: project,
        maxBuffer: 64 * 1024 * 1024,
      });
    };
    await npm(upstream.url, ['install', '--package-lock-only'], join(work, 'cache-lock'));
    const lockfile = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as unknown;
    /** `npm ci` from `registry` with a cache of its own (cold), node_modules removed afterwards. */
    const coldInstall = async (registry: string, label: string) => {
      const cache = join(work, `cache-${label}`);
      const begin = performance.now();
      await npm(registry, ['ci'], cache);
      const ms = performance.now() - begin;
      rmSync(join(project, 'node_modules'), { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
      return ms;
    };

    // Advisory data to scan against (without any, Warden fails closed and every package waits).
    const osv = join(work, 'osv');
    mkdirSync(osv);
    writeFileSync(
      join(osv, 'GHSA-bench-0001.json'),
      JSON.stringify({
        id: 'GHSA-bench-0001',
        modified: '2026-01-01T00:00:00Z',
        affected: [{ package: { ecosystem: 'npm', name: 'bench-unrelated' }, versions: ['1.0.0'] }],
      }),
    );

    const wardenRound = async (r: number): Promise<WardenRound> => {
      const target = await startVerdaccio();
      const name = `bench_pipeline_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      await admin.query(`create database ${name}`);
      const databaseUrl = new URL(url);
      databaseUrl.pathname = `/${name}`;
      const children: ChildProcess[] = [];
      try {
        const port = await freePort();
        const env = {
          DATABASE_URL: databaseUrl.toString(),
          PORT: String(port),
          WARDEN_ADMIN_EMAIL: 'bench@example.com',
          WARDEN_ADMIN_PASSWORD: PASSWORD,
          WARDEN_UPSTREAM_REGISTRY: upstream.url,
          WARDEN_TARGET_REGISTRY: target.url,
          WARDEN_TARGET_REGISTRY_TOKEN: target.token,
          WARDEN_OSV_PATH: osv,
        };
        const api = await warden(['serve'], { ...env, WARDEN_WORKERS: 'false' });
        children.push(api);
        const base = `http://127.0.0.1:${port}`;
        await untilReady(base, api);
        // Read models (tenants too) are filled by the worker: sign-in works once it has caught up.
        const worker = await warden(['worker'], env);
        children.push(worker);
        let token = '';
        await until(async () => {
          token = (await signIn(base, 'bench@example.com', PASSWORD)) ?? '';
          return token !== '';
        }, worker);
        const headers = {
          authorization: `Bearer ${token}`,
          'x-tenant': 'default',
          'content-type': 'application/json',
        };
        // Let the worker start (migrations done, partitions claimed) before the clock runs.
        await until(async () => {
          const res = await fetch(`${base}/v1/admin/workers`, { headers });
          if (!res.ok) throw new Error(`GET /v1/admin/workers answered ${res.status}: ${await res.text()}`);
          const body = (await res.json()) as { items: { state: string }[] };
          return body.items.some((w) => w.state === 'live');
        }, worker);

        process.stderr.write(`round ${r + 1} (b) Warden: submit → every package published…\n`);
        const start = performance.now();
        const submitted = await fetch(`${base}/v1/package-requests`, {
          method: 'POST',
          headers,
          body: JSON.stringify(lockfile),
        });
        if (submitted.status !== 202)
          throw new Error(`submit answered ${submitted.status}: ${await submitted.text()}`);
        const { id } = (await submitted.json()) as { id: string };
        let peak = 0;
        let last: { status: string; progress: { done: number; total: number } } | undefined;
        await until(
          async () => {
            peak = Math.max(peak, peakRssMb(worker.pid!));
            const res = await fetch(`${base}/v1/package-requests/${id}`, { headers });
            last = (await res.json()) as typeof last;
            return (
              last!.status === 'completed' ||
              last!.status === 'failed' ||
              last!.status === 'awaiting_approval'
            );
          },
          worker,
          30 * 60_000,
        );
        const pipelineMs = performance.now() - start;
        peak = Math.max(peak, peakRssMb(worker.pid!));
        if (last!.status !== 'completed')
          throw new Error(`the request ended ${last!.status}: ${JSON.stringify(last!.progress)}`);
        process.stderr.write(`round ${r + 1} (b) npm ci from the secure registry…\n`);
        const installMs = await coldInstall(target.url, `secure-${r}`);
        const stats = (await (await fetch(`${base}/v1/admin/stats`, { headers })).json()) as {
          packages: { stages: WardenRound['stageStats'] };
        };
        const db = new pg.Client({ connectionString: databaseUrl.toString() });
        await db.connect();
        const events = (
          await db.query<TimelineRow>(
            `select type, stream_id, data->>'at' as at, recorded_at from warden_events order by position`,
          )
        ).rows;
        await db.end();
        return { pipelineMs, installMs, peakMb: peak, events, stageStats: stats.packages.stages };
      } finally {
        for (const child of children) child.kill('SIGTERM');
        await Promise.all(
          children.map((c) => (c.exitCode === null ? new Promise((res) => c.once('exit', res)) : undefined)),
        );
        await target.stop();
        await admin.query(`drop database if exists ${name} with (force)`);
      }
    };

    const npmMs: number[] = [];
    const wardens: WardenRound[] = [];
    const loads: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      loads.push(loadavg());
      const npmRound = async () => {
        process.stderr.write(`round ${r + 1} (a) npm ci from the upstream…\n`);
        npmMs.push(await coldInstall(upstream.url, `upstream-${r}`));
      };
      if (r % 2 === 0) {
        await npmRound();
        wardens.push(await wardenRound(r));
      } else {
        wardens.push(await wardenRound(r));
        await npmRound();
      }
      const w = wardens[r]!;
      const total = w.pipelineMs + w.installMs;
      console.log(
        `round ${r + 1}: npm ci ${Math.round(npmMs[r]!)} ms; Warden pipeline ${Math.round(w.pipelineMs)} ms + ` +
          `npm ci from the secure registry ${Math.round(w.installMs)} ms = ${Math.round(total)} ms; ` +
          `ratio ${(total / npmMs[r]!).toFixed(2)} (load ${loads[r]!.toFixed(2)})`,
      );
    }

    // The floor of the publishing: the same tarballs published straight to a fresh registry.
    process.stderr.write('(c) raw publish of the same tarballs to a fresh Verdaccio…\n');
    const floor = await startVerdaccio();
    const rawStart = performance.now();
    await new PQueue({ concurrency: 8 }).addAll(
      names.map((n) => () => publishFixture(floor, { name: n, version: '1.0.0' })),
    );
    const rawPublishMs = performance.now() - rawStart;
    await floor.stop();

    const totals = wardens.map((w) => w.pipelineMs + w.installMs);
    const ratios = totals.map((t, i) => t / npmMs[i]!);
    const ratio = median(ratios);
    const pipelineOnly = median(wardens.map((w, i) => w.pipelineMs / npmMs[i]!));
    const peak = Math.max(...wardens.map((w) => w.peakMb));
    const lastRound = wardens[wardens.length - 1]!;
    const loadEnd = loadavg();
    console.log('');
    printTable([
      { figure: 'packages', value: N, unit: '' },
      { figure: 'rounds', value: ROUNDS, unit: '' },
      { figure: 'npm ci from the upstream (median)', value: Math.round(median(npmMs)), unit: 'ms' },
      {
        figure: 'Warden: submit → all published (median)',
        value: Math.round(median(wardens.map((w) => w.pipelineMs))),
        unit: 'ms',
        ratio: { name: 'pipeline_only_vs_npm_install', value: pipelineOnly },
      },
      {
        figure: 'npm ci from the secure registry (median)',
        value: Math.round(median(wardens.map((w) => w.installMs))),
        unit: 'ms',
      },
      {
        figure: 'Warden pipeline + install (median of rounds)',
        value: Math.round(median(totals)),
        unit: 'ms',
        ratio: { name: 'pipeline_vs_npm_install', value: ratio },
        target: `≤ ${TARGET}`,
        met: ratio <= TARGET,
      },
      { figure: 'pipeline_vs_npm_install, lowest round', value: Math.min(...ratios), unit: '' },
      { figure: 'pipeline_vs_npm_install, highest round', value: Math.max(...ratios), unit: '' },
      {
        figure: 'raw publish to a registry (floor)',
        value: Math.round(rawPublishMs),
        unit: 'ms',
        ratio: {
          name: 'pipeline_vs_raw_publish',
          value: median(wardens.map((w) => w.pipelineMs)) / rawPublishMs,
        },
      },
      ...lastRound.stageStats.map((s) => ({
        figure: `stage ${s.stage} p95 (last round)`,
        value: s.p95_ms,
        unit: 'ms',
      })),
      { figure: 'worker peak RSS', value: round(peak, 1), unit: 'MB', target: '< 300', met: peak < 300 },
    ]);
    console.log('');
    const breakdown = stageBreakdown(lastRound.events);
    console.log(
      `Where the last round's pipeline time goes (${breakdown.packages} packages, from their events):`,
    );
    printBreakdown(breakdown);
    console.log(`load average: ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end`);
    console.log('');
    if (process.env.BENCH_TIMELINE)
      writeFileSync(process.env.BENCH_TIMELINE, JSON.stringify(lastRound.events));
    console.log(
      JSON.stringify({
        warden_entry: wardenEntry(),
        packages: N,
        rounds: ROUNDS,
        pipeline_vs_npm_install: round(ratio, 2),
        pipeline_vs_npm_install_min: round(Math.min(...ratios), 2),
        pipeline_vs_npm_install_max: round(Math.max(...ratios), 2),
        pipeline_vs_npm_install_per_round: ratios.map((x) => round(x, 2)),
        target: TARGET,
        met: ratio <= TARGET,
        verdicts: [
          verdict('pipeline_vs_npm_install (median)', round(ratio, 2), '≤', TARGET),
          verdict('worker peak RSS, MB', round(peak, 1), '<', 300),
        ],
        pipeline_only_vs_npm_install: round(pipelineOnly, 2),
        npm_install_ms: npmMs.map(Math.round),
        pipeline_ms: wardens.map((w) => Math.round(w.pipelineMs)),
        secure_install_ms: wardens.map((w) => Math.round(w.installMs)),
        raw_publish_ms: Math.round(rawPublishMs),
        worker_peak_rss_mb: round(peak, 1),
        stages_last_round: breakdown.stages.map((s) => ({
          stage: s.stage,
          sum_ms: Math.round(s.sumMs),
          p50_ms: Math.round(s.p50Ms),
          p95_ms: Math.round(s.p95Ms),
          span_ms: Math.round(s.spanMs),
        })),
        load_average_1m: {
          start: round(loadStart, 2),
          end: round(loadEnd, 2),
          per_round: loads.map((l) => round(l, 2)),
        },
      }),
    );
  } finally {
    await upstream.stop();
    await admin.end();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The step each package event ends: the time from the package's previous event to this one is spent there. */
const STAGE_OF: Record<string, string> = {
  PackageProcessingStarted: 'queued (received → job started)',
  LicenseChecked: 'license',
  PackageDownloaded: 'download',
  PackageScanned: 'scan',
  PackageAutoApproved: 'approve',
  ApprovalRequired: 'approve',
  PackagePublishing: 'approve → publishing recorded',
  PackagePublished: 'publish (upload)',
};

export interface StageFigure {
  stage: string;
  /** Packages that went through it. */
  count: number;
  /** Time summed over packages (they overlap: this is work, not wall clock). */
  sumMs: number;
  p50Ms: number;
  p95Ms: number;
  /** Wall clock from the first package entering the stage to the last one leaving it. */
  spanMs: number;
}

/** Per-stage times of every package from its events' own times (`at`), in pipeline order. */
function stageBreakdown(rows: readonly TimelineRow[]): { packages: number; stages: StageFigure[] } {
  const byStream = new Map<string, { type: string; at: number }[]>();
  for (const row of rows) {
    if (!row.stream_id.startsWith('packages.Package-')) continue;
    const at = row.at ? Date.parse(row.at) : new Date(row.recorded_at).getTime();
    const list = byStream.get(row.stream_id) ?? [];
    list.push({ type: row.type, at });
    byStream.set(row.stream_id, list);
  }
  const stages = new Map<string, { durations: number[]; first: number; last: number }>();
  for (const events of byStream.values()) {
    for (let i = 1; i < events.length; i++) {
      const stage = STAGE_OF[events[i]!.type];
      if (!stage) continue;
      const begin = events[i - 1]!.at;
      const end = events[i]!.at;
      const s = stages.get(stage) ?? { durations: [], first: begin, last: end };
      s.durations.push(end - begin);
      s.first = Math.min(s.first, begin);
      s.last = Math.max(s.last, end);
      stages.set(stage, s);
    }
  }
  const order = [...new Set(Object.values(STAGE_OF))];
  return {
    packages: byStream.size,
    stages: order.flatMap((stage) => {
      const s = stages.get(stage);
      if (!s) return [];
      const sorted = [...s.durations].sort((a, b) => a - b);
      const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
      return [
        {
          stage,
          count: sorted.length,
          sumMs: sorted.reduce((a, b) => a + b, 0),
          p50Ms: at(0.5),
          p95Ms: at(0.95),
          spanMs: s.last - s.first,
        },
      ];
    }),
  };
}

function printBreakdown({ stages }: { stages: StageFigure[] }): void {
  const total = stages.reduce((a, s) => a + s.sumMs, 0);
  const cells = stages.map((s) => [
    s.stage,
    String(s.count),
    Math.round(s.sumMs).toLocaleString('en-US'),
    `${((100 * s.sumMs) / total).toFixed(1)}%`,
    Math.round(s.p50Ms).toLocaleString('en-US'),
    Math.round(s.p95Ms).toLocaleString('en-US'),
    Math.round(s.spanMs).toLocaleString('en-US'),
  ]);
  const header = ['stage', 'packages', 'sum ms', 'share', 'p50 ms', 'p95 ms', 'wall span ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
