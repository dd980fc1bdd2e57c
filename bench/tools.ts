/**
 * `npm run bench:tools` — the tool runner on PostgreSQL (DATABASE_URL, default the local test server):
 * (1) end-to-end executions per second of a short binary tool (nmap, a connect scan of one port the
 * bench opens on 127.0.0.1) through the API — POST, the job queue, the sandboxed process, the
 * result recorded, its stream followed to the end and the execution read — against spawning the same
 * nmap command directly with the same concurrency, the two sides alternating in rounds (`exec_vs_spawn`); (2) output latency from a run writing a line to 200 SSE
 * subscribers over real TCP, in a process of their own, receiving it (`stream_p95_ms`); (3) resident
 * memory the server process adds per 1,000 idle SSE subscribers (`rss_mb_per_1k_subscribers`). Not a test: it prints figures; the last line is JSON.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { createLogger } from '../src/logger.ts';
import { startToolJobs } from '../src/processes/tools/index.ts';
import { outputWriter, streamHub, type ToolOutputTables } from '../src/tools/index.ts';
import { testApp } from '../test/support/app.ts';
import { freshPostgres } from '../test/support/postgres.ts';
import { cpuPerUnit, cpuSnapshot, medianLedger } from './support/cpu-ledger.ts';
import { loopbackClient } from './support/http-client.ts';
import { cpuProfiled } from './support/profile.ts';
import { verdict } from './support/report.ts';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CONCURRENCY = 4;
const RUNS = Number(process.env.BENCH_TOOL_RUNS ?? 48);
/** Rounds that alternate the two sides (see below); each side runs RUNS / ROUNDS executions a round. */
const ROUNDS = Number(process.env.BENCH_TOOL_ROUNDS ?? 4);
const SKIP_EXEC = process.env.BENCH_SKIP_EXEC === '1';
/** A file to write a CPU profile of the exec-vs-spawn rounds to (this process: server, worker, client). */
const PROFILE = process.env.BENCH_TOOLS_PROFILE;
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 200);
const LINES = 100;
const IDLE = 1000;
const TARGETS = { exec_vs_spawn: 0.5, stream_p95_ms: 50, rss_mb_per_1k_subscribers: 100 };
const log = (line: string) => process.stdout.write(`${line}\n`);

// As `warden serve` is configured: its tenant cache, polls and LISTEN-woken output streams (the test
// app's are tuned for tests that must not wait); the job runner woken by the queue's notice.
const t = await testApp(() => freshPostgres(24, { url: DATABASE_URL, prefix: 'bench_tools' }), {
  serve: true,
});
const worker = startToolJobs({
  database: t.database,
  store: t.store,
  owner: 'bench',
  logger: createLogger('warn'),
  concurrency: CONCURRENCY,
});
const tenant = await t.tenant();
const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
await t.request('/v1/tools/targets', {
  method: 'PUT',
  token: owner.token,
  tenant: tenant.slug,
  json: { targets: ['127.0.0.1/32'] },
});
const listener = createServer((s) => {
  s.on('error', () => undefined);
  s.end();
});
await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
const port = (listener.address() as { port: number }).port;
// As `warden serve` runs: every stream of the process fed by one reader woken by LISTEN, the app
// behind the listener serve uses (the bench used to hand each request to `app.request` through a
// copied Request, a web-stream body copy per request that serve does not pay).
const hub = streamHub({ db: t.database.db as never, listen: t.database.listen, schema: t.database.schema });
const server = await t.listening(t.variantApp({ toolStream: hub }));
const base = server.base;
// The measured loop's client is node:http over keep-alive sockets, as in the other benchmarks
// (support/http-client.ts): on two shared cores a fetch client's CPU is taken from the server it measures.
const send = loopbackClient(base, CONCURRENCY * 2);
const headers = {
  authorization: `Bearer ${owner.token}`,
  'x-tenant': tenant.slug,
  'content-type': 'application/json',
};

/** Runs `total` executions of `work`, CONCURRENCY at a time; resolves to the seconds it took. */
async function pool(total: number, work: () => Promise<void>): Promise<number> {
  let left = total;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await work();
    }),
  );
  return (performance.now() - started) / 1000;
}

/** Per execution through the API: queued → started, started → finished, finished → the client knew. */
const phases: { queued: number; running: number; seen: number }[] = [];
const viaApi = async () => {
  const posted = await send('/v1/tools/nmap/executions', {
    method: 'POST',
    headers,
    body: JSON.stringify({ parameters: { host: '127.0.0.1', ports: String(port) } }),
  });
  const { id } = JSON.parse(posted.text) as { id: string };
  // As a client that waits for its run does: follow the output stream (it ends with the final status
  // frame), then read the execution once. Polling every few milliseconds instead made four clients
  // send hundreds of requests a second, which the server paid for out of the same two cores.
  await send(`/v1/executions/${id}/stream`, { headers });
  for (;;) {
    const body = JSON.parse((await send(`/v1/executions/${id}`, { headers })).text) as {
      status: string;
      queued_at: string;
      started_at: string | null;
      finished_at: string | null;
    };
    if (body.status === 'completed') {
      const at = (iso: string | null) => (iso ? Date.parse(iso) : Number.NaN);
      phases.push({
        queued: at(body.started_at) - at(body.queued_at),
        running: at(body.finished_at) - at(body.started_at),
        seen: Date.now() - at(body.finished_at),
      });
      return;
    }
    if (body.status !== 'queued' && body.status !== 'running') throw new Error(`run ended ${body.status}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
const direct = () =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(
      'nmap',
      ['-sT', '-Pn', '-n', '-T3', '-p', String(port), '-oX', '-', '--', '127.0.0.1'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nmap exited ${code}`))));
  });

log('# exec vs spawn');
if (!SKIP_EXEC) {
  await pool(4, viaApi);
  await pool(4, direct);
}
// The two sides alternate in rounds (spawn, API, API, spawn, …) and each rate is its runs over its
// summed time: on two cores shared with other suites the load swings by half within seconds, and one
// block of each side after the other measured the swing (the spawn rate alone read 9–20/s across
// runs minutes apart) more than the API's cost.
const perRound = Math.ceil(RUNS / ROUNDS);
// Where each side's CPU goes, per run, machine-wide: both sides keep the two cores busy, so the rates
// follow the CPU a run costs. The tool's processes (and the sandbox's) have exited by the window's
// end: their time is in what the machine spent beyond the processes named.
const spawners = new Map<number, boolean>();
const classify = (pid: number, comm: string) => {
  if (comm !== 'node') return undefined;
  let spawner = spawners.get(pid);
  if (spawner === undefined) {
    try {
      spawner = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('spawn-helper');
    } catch {
      spawner = false;
    }
    spawners.set(pid, spawner);
  }
  return spawner ? 'the spawner process (starts each run)' : undefined;
};
const shares = { rest: 'the rest: the tool and its sandbox, exited, and the kernel', classify };
const cpuRounds = { api: [] as [string, number][][], spawn: [] as [string, number][][] };
async function measuredPool(side: keyof typeof cpuRounds, total: number, work: () => Promise<void>) {
  const before = cpuSnapshot(undefined, shares);
  const seconds = await pool(total, work);
  cpuRounds[side].push(cpuPerUnit(before, cpuSnapshot(undefined, shares), total));
  return seconds;
}
let spawnSeconds = 0;
let apiSeconds = 0;
const rounds = async () => {
  for (let round = 0; round < (SKIP_EXEC ? 0 : ROUNDS); round++) {
    const spawnFirst = round % 2 === 0;
    if (spawnFirst) spawnSeconds += await measuredPool('spawn', perRound, direct);
    apiSeconds += await measuredPool('api', perRound, viaApi);
    if (!spawnFirst) spawnSeconds += await measuredPool('spawn', perRound, direct);
  }
};
if (PROFILE) {
  await cpuProfiled(PROFILE, rounds);
  log(`CPU profile of the rounds (this process: server, worker and client): ${PROFILE}`);
} else await rounds();
/** CPU ms per run by share, the median of the rounds. */
function cpuPerRun(rounds: [string, number][][]) {
  const { total, shares } = medianLedger(rounds);
  const named = (key: string) =>
    key === 'benchmark process' ? 'this process (server, worker, client)' : key;
  return {
    total: Math.round(total * 10) / 10,
    shares: Object.fromEntries(shares.map(([key, ms]) => [named(key), Math.round(ms * 10) / 10])),
  };
}
const cpu = { api: cpuPerRun(cpuRounds.api), spawn: cpuPerRun(cpuRounds.spawn) };
const spawnRate = SKIP_EXEC ? Number.NaN : (perRound * ROUNDS) / spawnSeconds;
const apiRate = SKIP_EXEC ? Number.NaN : (perRound * ROUNDS) / apiSeconds;
log(
  `api ${apiRate.toFixed(2)}/s, spawn ${spawnRate.toFixed(2)}/s (${ROUNDS} alternating rounds of ${perRound})`,
);
if (!SKIP_EXEC) {
  // Where an execution's time goes (p50 over the measured runs, the warm-up left out).
  const measured = phases.slice(4);
  const p50 = (key: keyof (typeof phases)[number]) => {
    const sorted = measured.map((p) => p[key]).sort((a, b) => a - b);
    return Math.round(sorted[Math.floor(sorted.length / 2)] ?? Number.NaN);
  };
  log(
    `per execution p50: queued ${p50('queued')} ms, running ${p50('running')} ms, finished → seen ${p50('seen')} ms`,
  );
  log('CPU ms per run, machine-wide (the median of the rounds, by share):');
  for (const side of ['api', 'spawn'] as const) {
    const parts = Object.entries(cpu[side].shares).map(([key, ms]) => `${key} ${ms}`);
    log(`  ${side}: ${cpu[side].total} = ${parts.join(', ')}`);
  }
}

/** An execution that stays queued (no tool worker takes it: the bench's worker is stopped by then). */
async function idleExecution(): Promise<string> {
  const res = await fetch(`${base}/v1/tools/hash-identify/executions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ parameters: { hash: 'abc' } }),
  });
  return ((await res.json()) as { id: string }).id;
}

await worker.stop(1000);

/** Starts subscribers in their own process; `finish()` ends them and returns their latencies. */
async function clients(execution: string, count: number, waitEnd: boolean) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./support/sse-clients.ts', import.meta.url))],
    {
      env: {
        ...process.env,
        BASE: base,
        EXECUTION: execution,
        SUBSCRIBERS: String(count),
        HEADERS: JSON.stringify(headers),
        WAIT_END: waitEnd ? '1' : '0',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  child.stdout.setEncoding('utf8');
  let buffer = '';
  child.stdout.on('data', (text: string) => {
    buffer += text;
    for (let cut = buffer.indexOf('\n'); cut >= 0; cut = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 1);
      wake?.();
    }
  });
  const next = async () => {
    while (lines.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return lines.shift()!;
  };
  await next();
  return {
    async finish(): Promise<number[]> {
      child.stdin.end();
      return (JSON.parse(await next()) as { latencies: number[] }).latencies;
    },
  };
}

log('# stream latency');
const streamId = await idleExecution();
const subscribers = await clients(streamId, SUBSCRIBERS, true);
await new Promise((r) => setTimeout(r, 500));
// Where the time goes: the same frames as the hub hands them to the streams (in this process,
// before any socket write), against what the subscribers in the other process receive.
const handed: number[] = [];
const offHub = await hub.subscribe(streamId, 0, {
  onFrames: (frames) => {
    for (const f of frames) if (f.kind === 'stdout') handed.push(Date.now() - Number(f.data.split(' ')[0]));
  },
});
// The output writer a run writes through: buffered, flushed as chunks, announced to the hub.
const writer = outputWriter(t.database.db as unknown as Kysely<ToolOutputTables>, streamId, {
  capBytes: 1 << 20,
});
for (let i = 0; i < LINES; i++) {
  writer.sink.write('stdout', `${Date.now()} line ${i}\n`);
  await new Promise((r) => setTimeout(r, 20));
}
await writer.status('completed');
await writer.close();
const latencies = (await subscribers.finish()).sort((a, b) => a - b);
offHub();
const p95 = latencies[Math.floor(latencies.length * 0.95)] ?? Number.NaN;
handed.sort((a, b) => a - b);
const handedP95 = handed[Math.floor(handed.length * 0.95)] ?? Number.NaN;
log(
  `${latencies.length} frames received, p50 ${latencies[Math.floor(latencies.length / 2)]} ms, p95 ${p95} ms; handed to the streams by the hub: p50 ${handed[Math.floor(handed.length / 2)]} ms, p95 ${handedP95} ms`,
);

log('# memory per idle subscriber (the server process only)');
const idleId = await idleExecution();
await new Promise((r) => setTimeout(r, 500));
const before = process.memoryUsage().rss;
const idle = await clients(idleId, IDLE, false);
await new Promise((r) => setTimeout(r, 1000));
const after = process.memoryUsage().rss;
const rssPer1k = ((after - before) / 1024 / 1024) * (1000 / IDLE);
log(`rss +${rssPer1k.toFixed(1)} MB for ${IDLE} idle subscribers`);
await idle.finish();

send.close();
await server.close();
listener.close();
await t.dispose();
const figures = {
  exec_per_s: Math.round(apiRate * 100) / 100,
  spawn_per_s: Math.round(spawnRate * 100) / 100,
  exec_vs_spawn: Math.round((apiRate / spawnRate) * 1000) / 1000,
  cpu_ms_per_run: cpu,
  stream_p95_ms: p95,
  hub_p95_ms: handedP95,
  rss_mb_per_1k_subscribers: Math.round(rssPer1k * 10) / 10,
  concurrency: CONCURRENCY,
  subscribers: SUBSCRIBERS,
  targets: TARGETS,
  verdicts: [
    verdict('exec_vs_spawn', Math.round((apiRate / spawnRate) * 1000) / 1000, '≥', TARGETS.exec_vs_spawn),
    verdict('stream_p95_ms (200 subscribers)', p95, '≤', TARGETS.stream_p95_ms),
    verdict(
      'rss_mb_per_1k_subscribers',
      Math.round(rssPer1k * 10) / 10,
      '≤',
      TARGETS.rss_mb_per_1k_subscribers,
    ),
  ],
  load_average_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
};
log(JSON.stringify(figures));
process.exit(0);
