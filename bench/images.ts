/**
 * `npm run bench:images` — build + push of one small image through Warden (`POST /v1/images/builds`,
 * follow its stream to the final status, `POST /v1/images/{id}/push`) against `docker build` + `docker push` run directly
 * (dockerode, the Engine API the CLI uses) against the same dockerd and the same registry (Debian's
 * docker-registry on loopback), in interleaved rounds with the same load: each round's context
 * carries a file of its own, so both sides build and push one new layer (`build_push_vs_direct`,
 * the median of the rounds' ratios, target ≤ 1.3). Warden runs in-process on PGlite with a real agent. Not a test: it prints figures;
 * the last line is JSON. `BENCH_IMAGE_ROUNDS` sets the rounds; `BENCH_IMAGES_PROFILE=<file>` writes a CPU profile of this
 * process (Warden, its image worker and both sides' clients) over the measured rounds. It also
 * prints where Warden's rounds went, step by step, from their images' events (see `wardenSteps`),
 * and how much longer the agent's build and push took than docker's own on the direct side.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import { createLogger } from '../src/logger.ts';
import { startImageBuildJobs } from '../src/processes/workspaces/index.ts';
import { agentKeys } from '../src/workspaces/index.ts';
import { testApp } from '../test/support/app.ts';
import { freshPGlite } from '../test/support/databases.ts';
import { importBaseImage, startDockerd } from '../test/support/docker.ts';
import { rawTar } from '../test/support/raw-tar.ts';
import { startRegistry } from '../test/support/registry.ts';
import { registerAgentViaApi, startAgent } from '../test/workspaces/agent-support.ts';
import { cpuDuring } from './support/cpu.ts';
import { median } from './support/measure.ts';
import { cpuProfiled } from './support/profile.ts';
import { verdict } from './support/report.ts';

const ROUNDS = Number(process.env.BENCH_IMAGE_ROUNDS ?? 10);
const PROFILE = process.env.BENCH_IMAGES_PROFILE;
const TARGETS = { build_push_vs_direct: 1.3 };
const log = (line: string) => process.stdout.write(`${line}\n`);
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
const stepP50 = (steps: { step: string; p50_ms: number }[], name: string) =>
  steps.find((s) => s.step === name)?.p50_ms ?? Number.NaN;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

const daemon = await startDockerd();
const [base, registry, agent, t] = await Promise.all([
  importBaseImage(daemon),
  startRegistry(),
  startAgent(daemon),
  // As `warden serve` runs (its polls, tenant cache and LISTEN-woken output streams; the test
  // defaults poll 5–10× as often, each poll a query on PGlite's event loop that serves the requests).
  testApp(freshPGlite, { serve: true, env: { WARDEN_REQUEST_TIMEOUT_MS: '120000' } }),
]);
// Builds run as jobs: one worker's image runner, as `warden serve` starts it (woken by the queue's
// notice; its poll, a safety net, at the default second).
const imageJobs = startImageBuildJobs({
  database: t.database,
  store: t.store,
  keys: agentKeys(t.database.db as never, t.identity.sealer),
  owner: 'bench',
  logger: createLogger('silent'),
});
const docker = new Docker({ socketPath: daemon.socket });
const context = (side: string, i: number) =>
  rawTar([
    { path: 'Dockerfile', content: `FROM ${base}\nCOPY round.txt /www/round.txt\n` },
    { path: 'round.txt', content: `${side} round ${i} ${crypto.randomUUID()}\n`.repeat(64) },
  ]);
const follow = (stream: NodeJS.ReadableStream) =>
  new Promise<void>((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error || failure ? reject(error ?? new Error(failure)) : resolve()),
      (line: { error?: string }) => {
        if (line.error) failure = line.error;
      },
    );
  });

try {
  const admin = await t.user({ role: 'admin' });
  const as = (path: string, init: RequestInit & { json?: unknown } = {}) =>
    t.request(path, { token: admin.token, tenant: admin.tenantSlug, ...init });
  const capacity = { cpus: 16, memory_mb: 65_536, workspaces: 100 };
  const { id: agentId } = await registerAgentViaApi(t, admin, agent, { name: 'bench', capacity });
  const set = await as('/v1/images/registry', { method: 'PUT', json: { url: registry.url } });
  if (set.status !== 200) throw new Error(`PUT /v1/images/registry answered ${set.status}`);

  const phases: { side: string; stage: number; build: number; push: number }[] = [];
  /** Each Warden round's image and its client-side moments (epoch ms), for the breakdown from its events. */
  const moments: { imageId: string; sent: number; ended: number; pushed: number }[] = [];
  const epoch = () => performance.timeOrigin + performance.now();
  const viaWarden = async (i: number) => {
    const sent = epoch();
    const started = performance.now();
    const answer = await as(`/v1/images/builds?agent_id=${agentId}&name=bench/warden&tag=r${i}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-tar' },
      body: context('warden', i) as BodyInit,
    });
    if (answer.status !== 202) throw new Error(`POST /v1/images/builds answered ${answer.status}`);
    const { id } = (await answer.json()) as { id: string };
    const posted = performance.now();
    // Learns the build ended as a client is told to, and as the direct side does (dockerode follows
    // the build's output to its end): by following the build's stream, which closes after the final
    // status frame (written once the outcome is recorded). Reading the image every 5 ms instead lagged
    // 5–155 ms behind the recorded end (each read an authenticated request on a loaded host) and put a
    // request every few ms on the process that runs the build: the Warden side only.
    const frames = await (await as(`/v1/images/${id}/stream`)).text();
    const last = [...frames.matchAll(/^event: status\ndata: (.*)$/gm)].at(-1)?.[1];
    const final = last
      ? (JSON.parse(JSON.parse(last).data) as { status: string; reason?: string })
      : undefined;
    if (final?.status !== 'completed') throw new Error(`the build ended ${final?.status}: ${final?.reason}`);
    const built = performance.now();
    const pushed = await as(`/v1/images/${id}/push`, { method: 'POST' });
    if (pushed.status !== 200) throw new Error(`push answered ${pushed.status}: ${await pushed.text()}`);
    const done = performance.now();
    phases.push({ side: 'warden', stage: posted - started, build: built - posted, push: done - built });
    const at = (t: number) => sent + (t - started);
    moments.push({ imageId: id, sent, ended: at(built), pushed: at(done) });
    return done - started;
  };
  const direct = async (i: number) => {
    const started = performance.now();
    const tag = `${registry.host}/bench/direct:r${i}`;
    await follow(
      await docker.buildImage(Readable.from([Buffer.from(context('direct', i))]), { t: tag, rm: true }),
    );
    const built = performance.now();
    // As the CLI does for an anonymous push: an empty X-Registry-Auth.
    await follow(await docker.getImage(tag).push({ authconfig: {} as never }));
    const done = performance.now();
    phases.push({ side: 'direct', stage: 0, build: built - started, push: done - built });
    return done - started;
  };

  log(`warm-up, then ${ROUNDS} interleaved rounds (warden, direct / direct, warden)`);
  await viaWarden(0);
  await direct(0);
  const warden: number[] = [];
  const plain: number[] = [];
  const measure = async () => {
    for (let i = 1; i <= ROUNDS; i++) {
      // Alternate who goes first, so neither always meets a warmer or a busier daemon.
      if (i % 2 === 1) {
        warden.push(await viaWarden(i));
        plain.push(await direct(i));
      } else {
        plain.push(await direct(i));
        warden.push(await viaWarden(i));
      }
    }
  };
  // The agent's CPU over the measured rounds (only Warden's rounds call it), and this process's
  // (Warden, its worker and both sides' clients): what each Warden round costs them.
  const cpu = await cpuDuring(agent.pid, () => (PROFILE ? cpuProfiled(PROFILE, measure) : measure()));
  if (PROFILE) {
    log(
      `CPU profile of the rounds (this process: Warden, its image worker and both sides' clients): ${PROFILE}`,
    );
  }
  const agentCpuMs = cpu.otherMs / ROUNDS;
  const ownCpuMs = cpu.selfMs / ROUNDS;
  // The median of each round's ratio (its two sides ran back to back, under the same load), as the
  // other benchmarks pair their rounds: the ratio of the two sides' medians can divide a round
  // at one load by a round at another. Both are printed.
  const ratio = median(warden.map((w, i) => w / plain[i]!));
  const ratioOfMedians = percentile(warden, 50) / percentile(plain, 50);
  // Where each side's time goes (p50 per phase; the warm-up left out): Warden's staging is the
  // POST's answer (the context streamed to the agent), its build the job's run until the image reads
  // `built`, its push the push's answer.
  const phase = (side: string, key: 'stage' | 'build' | 'push') =>
    round(
      percentile(
        phases
          .slice(2)
          .filter((p) => p.side === side)
          .map((p) => p[key]),
        50,
      ),
    );
  log(
    `p50 by phase: warden stage ${phase('warden', 'stage')} ms, build ${phase('warden', 'build')} ms, push ${phase('warden', 'push')} ms; ` +
      `direct build ${phase('direct', 'build')} ms, push ${phase('direct', 'push')} ms`,
  );
  const breakdown = await wardenSteps(moments.slice(1));
  log(
    `Warden's steps, p50 ms (from the image's events: see wardenSteps): ${breakdown.map((b) => `${b.step} ${b.p50_ms}`).join('; ')}`,
  );
  log(
    `CPU per round (both sides' rounds in this process): the agent ${round(agentCpuMs)} ms (Warden's rounds alone call it), this process ${round(ownCpuMs)} ms (Warden, its worker and both sides' clients)`,
  );
  log(
    `  against direct: the agent's build ${round(stepP50(breakdown, 'agent build') - phase('direct', 'build'))} ms and its push ${round(stepP50(breakdown, 'agent push') - phase('direct', 'push'))} ms longer than docker's own (each with an append of Warden's, the hop to the agent and its checks, and the push the tag before it)`,
  );
  const result = {
    rounds: ROUNDS,
    warden_p50_ms: round(percentile(warden, 50)),
    warden_p95_ms: round(percentile(warden, 95)),
    direct_p50_ms: round(percentile(plain, 50)),
    direct_p95_ms: round(percentile(plain, 95)),
    build_push_vs_direct: round(ratio, 3),
    round_ratios: warden.map((w, i) => round(w / plain[i]!, 3)),
    p50_ratio: round(ratioOfMedians, 3),
    met: { build_push_vs_direct: ratio <= TARGETS.build_push_vs_direct },
    targets: TARGETS,
    verdicts: [verdict('build_push_vs_direct', round(ratio, 3), '≤', TARGETS.build_push_vs_direct)],
    load_average_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    warden_steps_p50_ms: Object.fromEntries(breakdown.map((b) => [b.step, b.p50_ms])),
    agent_cpu_ms_per_round: round(agentCpuMs),
    process_cpu_ms_per_round: round(ownCpuMs),
  };
  log(
    `build + push p50/p95: warden ${result.warden_p50_ms}/${result.warden_p95_ms} ms, direct ${result.direct_p50_ms}/${result.direct_p95_ms} ms → build_push_vs_direct ${result.build_push_vs_direct} (median of the rounds' ratios; the p50s' ratio ${result.p50_ratio}) (target ≤ ${TARGETS.build_push_vs_direct}: ${result.met.build_push_vs_direct ? 'met' : 'missed'})`,
  );
  log(JSON.stringify(result));

  /**
   * Where each measured Warden round's time went, p50 per step, from the client's moments and the
   * image's events (each event's `recordedAt`: when its append began, in ms):
   * - stage: the POST sent until the build request is recorded (the context streamed to the agent);
   * - queue: until the worker records the start (the 202, the queue's notice, the claim);
   * - agent build: until the success is recorded (the start's append, the agent's call and checks, docker's build);
   * - build end: until the client's stream ends (the final frame written after the record);
   * - push request: until the push's start is recorded (appended as the agent is called);
   * - agent push: until the push is recorded (the tag and docker's push);
   * - push end: until the client has the answer.
   */
  async function wardenSteps(rounds: typeof moments) {
    const events = await t.store.readAll({
      after: 0n,
      limit: 10_000,
      types: [
        'ImageBuildRequested',
        'ImageBuildStarted',
        'ImageBuildSucceeded',
        'ImagePushStarted',
        'ImagePushed',
      ],
    });
    const when = new Map<string, number>();
    for (const event of events) {
      when.set(`${(event.data as { imageId: string }).imageId} ${event.type}`, event.recordedAt.getTime());
    }
    const of = (r: (typeof moments)[number], type: string) => {
      const at = when.get(`${r.imageId} ${type}`);
      if (at === undefined) throw new Error(`no ${type} for ${r.imageId}`);
      return at;
    };
    const steps: [string, (r: (typeof moments)[number]) => number][] = [
      ['stage', (r) => of(r, 'ImageBuildRequested') - r.sent],
      ['queue', (r) => of(r, 'ImageBuildStarted') - of(r, 'ImageBuildRequested')],
      ['agent build', (r) => of(r, 'ImageBuildSucceeded') - of(r, 'ImageBuildStarted')],
      ['build end', (r) => r.ended - of(r, 'ImageBuildSucceeded')],
      ['push request', (r) => of(r, 'ImagePushStarted') - r.ended],
      ['agent push', (r) => of(r, 'ImagePushed') - of(r, 'ImagePushStarted')],
      ['push end', (r) => r.pushed - of(r, 'ImagePushed')],
    ];
    return steps.map(([step, measure]) => ({ step, p50_ms: round(percentile(rounds.map(measure), 50)) }));
  }
} finally {
  await imageJobs.stop(1000);
  await agent.dispose();
  await registry.stop();
  await daemon.stop();
  await t.dispose();
}
