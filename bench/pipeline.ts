/**
 * `npm run bench:pipeline` — issue 5's benchmark. In one run, with two real Verdaccio registries on
 * loopback (an upstream holding N generated packages, an empty secure target):
 *   (a) plain `npm ci --ignore-scripts --no-audit` of a lockfile naming the N packages, from the
 *       upstream, with an empty cache;
 *   (b) Warden, from submitting the same lockfile to every package published (scanning on, the
 *       default policy with auto-approval), with the API and a separate `warden worker` process on
 *       PostgreSQL (DATABASE_URL or the local server, a database of its own).
 *   (c) the floor of (b): the same tarballs published straight to a fresh Verdaccio (it takes each
 *       publish in turn, ~80 ms here, whatever the concurrency).
 * Prints the times, their ratios (target ≤ 1.5 for b/a) and the worker's peak RSS (target < 300 MB). Not a
 * test; the last line is one JSON object. `BENCH_PACKAGES` sets N (default 500); `BENCH_CPU_PROFILE` a
 * folder where the API and the worker write V8 CPU profiles.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import PQueue from 'p-queue';
import pg from 'pg';
import { freePort, signIn, until, untilReady } from '../test/support/cli.ts';
import { publishFixture } from '../test/support/fixture-packages.ts';
import { startVerdaccio } from '../test/support/verdaccio.ts';
import { printTable, round } from './support/report.ts';

const exec = promisify(execFile);
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_PACKAGES ?? 500);

/** Peak resident set (VmHWM) of a process, in MB, from /proc. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function warden(args: string[], env: Record<string, string>): ChildProcess {
  // node itself (not the tsx wrapper), so the pid is the process whose memory is measured.
  // BENCH_CPU_PROFILE=<folder>: each Warden process writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`]
    : [];
  return spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts', ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'warden-bench-pipeline-'));
  const [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
  const url = process.env.DATABASE_URL || DEFAULT_URL;
  const name = `bench_pipeline_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const databaseUrl = new URL(url);
  databaseUrl.pathname = `/${name}`;
  const children: ChildProcess[] = [];
  try {
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

    process.stderr.write('(a) npm ci from the upstream…\n');
    const npmStart = performance.now();
    await npm(upstream.url, ['ci'], join(work, 'cache-npm'));
    const npmMs = performance.now() - npmStart;
    rmSync(join(project, 'node_modules'), { recursive: true, force: true });

    // The floor for (b): publishing the same tarballs straight to a fresh registry, same concurrency.
    process.stderr.write('(c) raw publish of the same tarballs to a fresh Verdaccio…\n');
    const floor = await startVerdaccio();
    const rawStart = performance.now();
    await new PQueue({ concurrency: 8 }).addAll(
      names.map((n) => () => publishFixture(floor, { name: n, version: '1.0.0' })),
    );
    const rawPublishMs = performance.now() - rawStart;
    await floor.stop();

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
    const port = await freePort();
    const env = {
      DATABASE_URL: databaseUrl.toString(),
      PORT: String(port),
      WARDEN_ADMIN_EMAIL: 'bench@example.com',
      WARDEN_ADMIN_PASSWORD: 'plum-orbit-kettle-47',
      WARDEN_UPSTREAM_REGISTRY: upstream.url,
      WARDEN_TARGET_REGISTRY: target.url,
      WARDEN_TARGET_REGISTRY_TOKEN: target.token,
      WARDEN_OSV_PATH: osv,
    };
    const api = warden(['serve'], { ...env, WARDEN_WORKERS: 'false' });
    children.push(api);
    const base = `http://127.0.0.1:${port}`;
    await untilReady(base, api);
    // Read models (tenants too) are filled by the worker: sign-in works once it has caught up.
    const worker = warden(['worker'], env);
    children.push(worker);
    let token = '';
    await until(async () => {
      token = (await signIn(base, 'bench@example.com', 'plum-orbit-kettle-47')) ?? '';
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

    process.stderr.write('(b) Warden: submit → every package published…\n');
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
          last!.status === 'completed' || last!.status === 'failed' || last!.status === 'awaiting_approval'
        );
      },
      worker,
      30 * 60_000,
    );
    const pipelineMs = performance.now() - start;
    peak = Math.max(peak, peakRssMb(worker.pid!));
    if (last!.status !== 'completed')
      throw new Error(`the request ended ${last!.status}: ${JSON.stringify(last!.progress)}`);
    const stats = (await (await fetch(`${base}/v1/admin/stats`, { headers })).json()) as {
      packages: { stages: { stage: string; p50_ms: number | null; p95_ms: number | null }[] };
    };
    const ratio = pipelineMs / npmMs;
    printTable([
      { figure: 'packages', value: N, unit: '' },
      { figure: 'npm ci from the upstream', value: Math.round(npmMs), unit: 'ms' },
      {
        figure: 'Warden: submit → all published',
        value: Math.round(pipelineMs),
        unit: 'ms',
        ratio: { name: 'pipeline_vs_npm_install', value: ratio },
        target: '≤ 1.5',
        met: ratio <= 1.5,
      },
      {
        figure: 'raw publish to a registry (floor)',
        value: Math.round(rawPublishMs),
        unit: 'ms',
        ratio: { name: 'pipeline_vs_raw_publish', value: pipelineMs / rawPublishMs },
      },
      ...stats.packages.stages.map((s) => ({ figure: `stage ${s.stage} p95`, value: s.p95_ms, unit: 'ms' })),
      { figure: 'worker peak RSS', value: round(peak, 1), unit: 'MB', target: '< 300', met: peak < 300 },
    ]);
    console.log(
      JSON.stringify({
        packages: N,
        npm_install_ms: Math.round(npmMs),
        pipeline_ms: Math.round(pipelineMs),
        pipeline_vs_npm_install: round(ratio, 2),
        raw_publish_ms: Math.round(rawPublishMs),
        pipeline_vs_raw_publish: round(pipelineMs / rawPublishMs, 2),
        worker_peak_rss_mb: round(peak, 1),
      }),
    );
    if (process.env.BENCH_TIMELINE) {
      const db = new pg.Client({ connectionString: databaseUrl.toString() });
      await db.connect();
      const rows = await db.query(
        `select type, stream_id, data->>'at' as at, recorded_at from warden_events order by position`,
      );
      writeFileSync(
        process.env.BENCH_TIMELINE,
        JSON.stringify({ start: Date.now() - (performance.now() - start), rows: rows.rows }),
      );
      await db.end();
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
    );
    await Promise.all([upstream.stop(), target.stop()]);
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
