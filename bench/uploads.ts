/**
 * `npm run bench:uploads` — throughput of a 200 MB upload through Warden's tus endpoint (`/v1/uploads`,
 * POST then one PATCH streamed on to the agent, SHA-256 checked at the end) against the same bytes
 * sent by the same client straight to the agent's store API (open, one PATCH, complete: what Warden
 * asks of the agent, without Warden). Both sides are `curl -T` (streamed from disk, nothing buffered
 * whole); the agent is the real `warden agent` process (it needs a dockerd to start, root needed);
 * Warden listens in-process on PGlite. Both sides are warmed up once; each round runs both, in turn
 * first, each upload alone: after Warden's work on the one before (its projections, whose PGlite
 * statements run on this thread, the client's too) and with the store emptied. Ratio
 * `upload_vs_direct` = the median of the rounds' Warden/direct rates (each round's two uploads run
 * back to back, so both see the same load), target ≥ 0.7; the medians' ratio is printed too.
 *
 * A third side, the floor of any relay in this runtime: the direct client's PATCH sent through a bare
 * Node relay in this process (`http.createServer` piping each request on to the agent, nothing else:
 * no protocol, no authorization, no events). `bare_relay_vs_direct` (no target) shows how much of
 * Warden's gap is the extra hop itself: on 2 cores the client, the relay and the agent share them.
 * Not a test: it prints figures; the last line is JSON.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { agentKeys } from '../src/workspaces/index.ts';
import { decodeKey, signatureHeaders, UNSIGNED_PAYLOAD } from '../src/workspaces/signing.ts';
import { testApp } from '../test/support/app.ts';
import { freshPGlite } from '../test/support/databases.ts';
import { startDockerd } from '../test/support/docker.ts';
import { startRelay } from '../test/support/relay.ts';
import { registerAgentViaApi, startAgent } from '../test/workspaces/agent-support.ts';
import { headersOf, tusRequests } from '../test/workspaces/tus-client.ts';
import { cpuDuring } from './support/cpu.ts';
import { median } from './support/measure.ts';
import { cpuProfiled } from './support/profile.ts';
import { verdict } from './support/report.ts';

const SIZE_MB = Number(process.env.BENCH_UPLOAD_MB ?? 200);
const ROUNDS = Number(process.env.BENCH_UPLOAD_ROUNDS ?? 7);
const TARGET = 0.7;
const PROFILE = process.env.BENCH_UPLOAD_PROFILE;
const log = (line: string) => process.stdout.write(`${line}\n`);
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** A file of random bytes on disk (written in 1 MB pieces) and its SHA-256. */
async function makeFile(dir: string, megabytes: number) {
  const path = join(dir, 'payload.bin');
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let i = 0; i < megabytes; i++) {
    const piece = randomBytes(1024 * 1024);
    hash.update(piece);
    if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
  return { path, sha256: hash.digest('hex'), size: statSync(path).size };
}

/** curl streaming the file as the body of a PATCH; its status code. (Async: Warden serves in this process.) */
async function curlPatch(url: string, file: string, headers: Record<string, string>): Promise<number> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PATCH', '-T', file, url];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  // curl adds "Expect: 100-continue" to large uploads: both sides answer it alike, but it costs a round trip.
  args.push('-H', 'Expect:');
  return Number((await promisify(execFile)('curl', args, { encoding: 'utf8' })).stdout);
}

const work = mkdtempSync('/tmp/bench-uploads-');
const daemon = await startDockerd();
const [agent, t] = await Promise.all([startAgent(daemon), testApp(freshPGlite, { serve: true })]);
const server = await t.listening();
/** The bare relay: the direct client's PATCH passed on to the agent, nothing else. */
const relay = await startRelay(agent.url);
try {
  const file = await makeFile(work, SIZE_MB);
  const tenant = await t.tenant();
  const admin = await t.user({ tenant: tenant.slug, role: 'admin' });
  const capacity = { cpus: 2, memory_mb: 1024, workspaces: 2 };
  const { id: agentId } = await registerAgentViaApi(t, admin, agent, { name: 'bench-host', capacity });
  // The direct client signs with the agent's key, as Warden does: the one Warden holds (sealed) is opened.
  const directKey = await agentKeys(t.database.db as Kysely<unknown>, t.identity.sealer).get(agentId);
  if (!directKey) throw new Error('no key for the agent');

  const auth = headersOf(admin);
  const tus = tusRequests(() => server.base);

  /** Where Warden's time goes: the tus creation (POST) and the PATCH (bytes on, SHA-256 checked, recorded). */
  const phases = { creation: [] as number[], patch: [] as number[] };
  /**
   * CPU each process spent per round (ms): this process's (Warden or the bare relay, and the bench's
   * client calls, which the direct side's figure is alone) and the agent's, on each side.
   */
  const cpu = {
    warden: [] as number[],
    wardenAgent: [] as number[],
    directSelf: [] as number[],
    directAgent: [] as number[],
    relay: [] as number[],
    relayAgent: [] as number[],
  };
  /** Runs a round, adding the agent's CPU to `agentInto` and this process's to `selfInto`. */
  const cpuOfRound = async <T>(run: () => Promise<T>, agentInto: number[], selfInto: number[]) => {
    const { result, selfMs, otherMs } = await cpuDuring(agent.pid, run);
    selfInto.push(selfMs);
    agentInto.push(otherMs);
    return result;
  };
  const throughWarden = async () => {
    const started = performance.now();
    const created = await tus.create(admin, file.size, {
      filename: 'bench.img',
      sha256: file.sha256,
      agent: agentId,
    });
    if (created.status !== 201) throw new Error(`create: ${created.status} ${await created.text()}`);
    const patching = performance.now();
    phases.creation.push(patching - started);
    const status = await curlPatch(`${server.base}${created.headers.get('location')}`, file.path, {
      ...auth,
      'tus-resumable': '1.0.0',
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
    });
    if (status !== 204) throw new Error(`warden PATCH answered ${status}`);
    phases.patch.push(performance.now() - patching);
    return performance.now() - started;
  };

  const agentKey = decodeKey(directKey);
  const signed = (method: string, target: string, body: Uint8Array | typeof UNSIGNED_PAYLOAD) =>
    signatureHeaders(agentKey, { method, target, body }, new Date());
  /** Open, PATCH and complete at the agent; the PATCH goes to `patchBase` (the agent, or the bare relay). */
  const direct = async (patchBase = agent.url) => {
    const started = performance.now();
    const id = crypto.randomUUID();
    const declaration = new TextEncoder().encode(
      JSON.stringify({ id, size: file.size, sha256: file.sha256, file_name: 'bench.img' }),
    );
    const opened = await fetch(`${agent.url}/v1/store/uploads`, {
      method: 'POST',
      headers: { ...signed('POST', '/v1/store/uploads', declaration), 'content-type': 'application/json' },
      body: declaration,
    });
    if (opened.status !== 201) throw new Error(`open: ${opened.status} ${await opened.text()}`);
    const target = `/v1/store/uploads/${id}`;
    const status = await curlPatch(`${patchBase}${target}`, file.path, {
      ...signed('PATCH', target, UNSIGNED_PAYLOAD),
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
    });
    if (status !== 200) throw new Error(`direct PATCH answered ${status}`);
    const done = await fetch(`${agent.url}${target}/complete`, {
      method: 'POST',
      headers: signed('POST', `${target}/complete`, new Uint8Array()),
    });
    if (done.status !== 200) throw new Error(`complete: ${done.status} ${await done.text()}`);
    return performance.now() - started;
  };

  const bareRelay = () => direct(relay.base);

  log(`file ready (${file.size} bytes), agent registered`);
  const wardenMs: number[] = [];
  const directMs: number[] = [];
  const relayMs: number[] = [];
  const projectionNames = (await t.engine.status()).map((status) => status.name);
  /**
   * Waits for Warden's work that follows an upload (its projections catching up on the upload's events,
   * PGlite statements on this thread) to end: else it lands in the next upload, whichever side that
   * is, and the bench's own client in this process waits behind it (the direct side did, every round).
   */
  const settled = async () => {
    const head = await t.store.headPosition();
    if (!(await t.engine.waitFor(projectionNames, head, 30_000)))
      throw new Error('projections did not catch up');
  };
  /** One measured upload, alone: the store emptied after it (outside the timing) so the disk does not fill up. */
  const alone = async <T>(run: () => Promise<T>) => {
    await settled();
    const result = await run();
    rmSync(join(agent.workDir, 'store'), { recursive: true, force: true });
    return result;
  };
  // Warm-up of both sides: compiles the routes and opens the connections.
  log(
    `warm-up: through Warden ${Math.round(await alone(throughWarden))} ms, direct ${Math.round(await alone(() => direct()))} ms, through the bare relay ${Math.round(await alone(bareRelay))} ms`,
  );
  const measured = async () => {
    const sides = [
      async () =>
        directMs.push(await alone(() => cpuOfRound(() => direct(), cpu.directAgent, cpu.directSelf))),
      async () => wardenMs.push(await alone(() => cpuOfRound(throughWarden, cpu.wardenAgent, cpu.warden))),
      async () => relayMs.push(await alone(() => cpuOfRound(bareRelay, cpu.relayAgent, cpu.relay))),
    ];
    for (let i = 0; i < ROUNDS; i++) {
      // The order turns each round: no side always follows the same other one.
      for (let k = 0; k < sides.length; k++) await sides[(i + k) % sides.length]!();
    }
  };
  if (PROFILE) {
    await cpuProfiled(PROFILE, measured);
    log(`CPU profile of the rounds (this process: Warden and the bench's client calls): ${PROFILE}`);
  } else await measured();
  const mb = file.size / (1024 * 1024);
  const wardenRate = mb / (median(wardenMs) / 1000);
  const directRate = mb / (median(directMs) / 1000);
  const relayRate = mb / (median(relayMs) / 1000);
  // A rate over the direct one is the direct time over its own: paired within each round.
  const roundRatios = (ms: number[]) => ms.map((m, i) => (directMs[i] ?? 0) / m);
  const ratio = median(roundRatios(wardenMs));
  const result = {
    size_mb: round(mb, 1),
    rounds: ROUNDS,
    warden_ms: round(median(wardenMs), 0),
    direct_ms: round(median(directMs), 0),
    bare_relay_ms: round(median(relayMs), 0),
    warden_mb_per_s: round(wardenRate, 1),
    direct_mb_per_s: round(directRate, 1),
    bare_relay_mb_per_s: round(relayRate, 1),
    upload_vs_direct: round(ratio, 3),
    round_ratios: roundRatios(wardenMs).map((r) => round(r, 3)),
    medians_ratio: round(wardenRate / directRate, 3),
    bare_relay_vs_direct: round(median(roundRatios(relayMs)), 3),
    bare_relay_round_ratios: roundRatios(relayMs).map((r) => round(r, 3)),
    cpu_ms_per_round: {
      warden: round(median(cpu.warden), 0),
      warden_agent: round(median(cpu.wardenAgent), 0),
      bare_relay: round(median(cpu.relay), 0),
      bare_relay_agent: round(median(cpu.relayAgent), 0),
      direct_client: round(median(cpu.directSelf), 0),
      direct_agent: round(median(cpu.directAgent), 0),
    },
    target: `>= ${TARGET}`,
    met: ratio >= TARGET,
    verdicts: [verdict('upload_vs_direct (200 MB)', round(ratio, 3), '≥', TARGET)],
    load_average_1m: round(os.loadavg()[0] ?? 0, 2),
    cores: os.availableParallelism(),
  };
  log(
    `${round(mb, 0)} MB upload, medians: through Warden ${result.warden_mb_per_s} MB/s (${result.warden_ms} ms), direct to the agent ${result.direct_mb_per_s} MB/s (${result.direct_ms} ms), through the bare relay ${result.bare_relay_mb_per_s} MB/s (${result.bare_relay_ms} ms)`,
  );
  log(
    `  per round, Warden/direct: ${result.round_ratios.join(', ')} (the medians' ratio ${result.medians_ratio}); bare relay/direct: ${result.bare_relay_round_ratios.join(', ')}`,
  );
  log(
    `  through Warden, medians: creation (POST) ${round(median(phases.creation.slice(1)), 0)} ms, PATCH ${round(median(phases.patch.slice(1)), 0)} ms`,
  );
  log(
    `  CPU per round, medians: through Warden, this process ${round(median(cpu.warden), 0)} ms and the agent ${round(median(cpu.wardenAgent), 0)} ms; through the bare relay, this process ${round(median(cpu.relay), 0)} ms and the agent ${round(median(cpu.relayAgent), 0)} ms; direct, this process (the client calls alone) ${round(median(cpu.directSelf), 0)} ms and the agent ${round(median(cpu.directAgent), 0)} ms`,
  );
  log(
    `upload_vs_direct = ${result.upload_vs_direct} (median of the rounds' ratios; target ≥ ${TARGET}, met: ${result.met ? 'yes' : 'NO'}); bare_relay_vs_direct = ${result.bare_relay_vs_direct} (no target: the extra hop alone); load average ${result.load_average_1m} on ${result.cores} cores`,
  );
  log(JSON.stringify(result));
} finally {
  await relay.close();
  await server.close();
  await agent.dispose();
  await daemon.stop();
  await t.dispose();
  rmSync(work, { recursive: true, force: true });
}
