/**
 * `npm run bench:workspaces` — provisioning through Warden against doing it by hand, with real Docker
 * and nginx started here (root needed, as for dockerd): the time from `POST /v1/workspaces` to the
 * workspace answering through nginx, p50/p95 over 20 workspaces, against a script doing the same
 * `docker create` / `start` (the same container: data mount, limits, restart policy, labels) + nginx
 * routes file + `nginx -s reload` directly (`provision_vs_direct`,
 * target ≤ 1.5); then, with 50 workspaces running, `GET /v1/workspaces` p95 (target ≤ 25 ms).
 * Warden runs in-process (HTTP through `app.request`, the provisioning worker, the nginx router) on
 * PGlite, and listens on loopback for nginx's session checks. A Warden workspace counts as answering
 * once nginx routes it and Warden's check answers (401 to a request without a session: the route is
 * live and guarded); each is then entered once, untimed, to see it serve `workspace` to its user.
 * Not a test: it prints figures; the last line is JSON.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { workspaceStreamId } from '../src/commands/workspaces/index.ts';
import { transactionBindingFor } from '../src/eventstore/postgres/transactional-store.ts';
import { startWorkers } from '../src/processes/runtime/index.ts';
import { workspaceProvisioning } from '../src/processes/workspaces/index.ts';
import { NginxRouter } from '../src/workspaces/index.ts';
import { testApp } from '../test/support/app.ts';
import { freshPGlite } from '../test/support/databases.ts';
import { importBaseImage, startDockerd, startNginx } from '../test/support/docker.ts';
import { registerAgentViaApi, startAgent } from '../test/workspaces/agent-support.ts';
import { verdict } from './support/report.ts';

const SAMPLES = Number(process.env.BENCH_WORKSPACES ?? 20);
const RUNNING = 50;
const LIST_SAMPLES = 200;
/** Each workspace's resources, through Warden and in the direct script's containers alike. */
const CPUS = 0.1;
const MEMORY_MB = 32;
const TARGETS = { provision_vs_direct: 1.5, list_p95_ms: 25 };
const log = (line: string) => process.stdout.write(`${line}\n`);

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
const round = (n: number) => Math.round(n * 10) / 10;

/** Polls `url` until it answers `status` with `body` (null: any body). */
async function answers(url: string, timeoutMs = 60_000, status = 200, body: string | null = 'workspace\n') {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then(
      async (r) => r.status === status && (body === null || (await r.text()) === body),
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${url} never answered`);
}

/**
 * An untimed GET through nginx on a connection of its own, closed after the answer. A reload (every
 * router pass) makes the old workers close their idle kept-alive connections, and `fetch` sent these
 * on pooled ones: one could leave on a connection at that moment and be closed unanswered
 * (`UND_ERR_SOCKET`), and sent again once it could take another pooled one just as stale (five
 * provisions at a time reload nginx often). A new connection always reaches a current worker.
 */
function throughNginx(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false, headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('error', reject);
      answer.on('end', () => {
        const kept = new Headers();
        for (let i = 0; i < answer.rawHeaders.length; i += 2)
          kept.append(answer.rawHeaders[i]!, answer.rawHeaders[i + 1]!);
        const status = answer.statusCode ?? 0;
        const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, headers: kept }));
      });
    });
    request.on('error', reject);
  });
}

const daemon = await startDockerd();
/** The direct script's data folders (Warden's agent keeps its own under its work folder). */
const dataRoot = mkdtempSync(join(tmpdir(), 'bench-direct-data-'));
// Two nginx instances: Warden's router owns the first one's routes file, the direct script the second's.
const [image, nginx, directNginx, agent, t] = await Promise.all([
  importBaseImage(daemon),
  startNginx(),
  startNginx(),
  startAgent(daemon),
  // As `warden serve` runs: the tenant cache on, its polls (the test app's uncached tenant and 10 ms
  // polls cost reads on PGlite's one connection that serve does not make).
  testApp(freshPGlite, { serve: true }),
]);
const worker = await startWorkers({
  database: t.database,
  store: t.store,
  storeIn: transactionBindingFor(t.database, t.store),
  processes: [workspaceProvisioning],
  personalData: t.personalData,
  // Provisioning opens the sealed agent keys with it.
  sealer: t.identity.sealer,
  partitions: 4,
  logger: {
    debug: () => {},
    info: () => {},
    warn: (o: object, m?: string) => log(`worker warn: ${m} ${JSON.stringify(o).slice(0, 300)}`),
    error: (o: object, m?: string) =>
      log(
        `worker error: ${m} ${String((o as { err?: unknown }).err).slice(0, 300)} ${JSON.stringify(o).slice(0, 200)}`,
      ),
  } as never,
});
const reloads: Array<{ at: number; tookMs: number }> = [];
const http = await t.listening();
const router = new NginxRouter({
  db: t.database.db as never,
  // As in production: reloaded by a SIGHUP to the pid in nginx's pid file, woken by the routes
  // projections' notices, and the tick at its default (1 s) only as the fallback.
  target: { routesFile: nginx.routes, command: nginx.command, pidFile: join(nginx.dir, 'nginx.pid') },
  notices: t.database,
  listen: `127.0.0.1:${nginx.port}`,
  domain: 'ws.bench',
  accessUrl: http.base,
  intervalMs: 1000,
  // When each reload went live and how long its pass took: the routing part of "where the time goes".
  logger: {
    info: (o: object) => {
      const { took_ms } = o as { took_ms?: number };
      if (took_ms !== undefined) reloads.push({ at: Date.now(), tookMs: took_ms });
    },
    warn: () => {},
    error: (o: object) => log(`router: ${JSON.stringify(o)}`),
  },
});
router.start();

try {
  const admin = await t.user({ role: 'admin' });
  const slug = admin.tenantSlug;
  const capacity = { cpus: 512, memory_mb: 1_000_000, workspaces: 1000 };
  await registerAgentViaApi(t, admin, agent, { name: 'bench', capacity });

  /** Per sample: when it started (epoch ms), the 202, the answer through nginx, and its workspace. */
  const timings: Array<{ id: string; startedAt: number; accepted: number; answered: number }> = [];
  const provision = async () => {
    const user = await t.user({ tenant: slug, role: 'member' });
    const startedAt = Date.now();
    const started = performance.now();
    const answer = await t.request('/v1/workspaces', {
      token: admin.token,
      tenant: slug,
      json: { image, user_id: user.userId, resources: { cpus: CPUS, memory_mb: MEMORY_MB } },
    });
    if (answer.status !== 202) throw new Error(`POST /v1/workspaces answered ${answer.status}`);
    const accepted = performance.now() - started;
    const { id } = (await answer.json()) as { id: string };
    await answers(`${nginx.url}/u/${user.userId}/`, 60_000, 401, null);
    const answered = performance.now() - started;
    timings.push({ id, startedAt, accepted, answered });
    // Untimed: its user's session gets the workspace itself through nginx, once no worker of an
    // earlier reload is left. The 401 came from a worker with this route, but until an older worker
    // takes its QUIT it still accepts new connections and answers them from the routes before this
    // one (nginx's catch-all 404: seen here with five provisions, so reloads, at a time).
    await nginx.settled();
    const link = await t.request(`/v1/workspaces/${id}/sessions`, {
      token: user.token,
      tenant: slug,
      method: 'POST',
    });
    if (link.status !== 201) throw new Error(`POST /v1/workspaces/${id}/sessions answered ${link.status}`);
    const entered = await throughNginx(`${nginx.url}${((await link.json()) as { path: string }).path}`);
    const cookie = (entered.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const served = await throughNginx(`${nginx.url}/u/${user.userId}/`, { cookie });
    if ((await served.text()) !== 'workspace\n') throw new Error(`the workspace answered ${served.status}`);
    return answered;
  };

  const docker = new Docker({ socketPath: daemon.socket });
  const directRoutes: string[] = [];
  // The same container the agent creates for a workspace: its data folder mounted at /data, the
  // CPU and memory limits, the restart policy and the labels (limits and a mount cost dockerd ~40 ms
  // of a start here; a bare container would make the script's side cheaper than the work compared).
  const directOnce = async (i: number) => {
    const started = performance.now();
    const dataFolder = join(dataRoot, `direct-${i}`);
    mkdirSync(dataFolder, { recursive: true });
    const container = await docker.createContainer({
      name: `direct-${i}`,
      Image: image,
      Labels: { 'warden.workspace': `direct-${i}`, 'warden.managed': 'true' },
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: {
        PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
        Binds: [`${dataFolder}:/data`],
        RestartPolicy: { Name: 'unless-stopped' },
        NanoCpus: Math.round(CPUS * 1e9),
        Memory: MEMORY_MB * 1024 * 1024,
      },
    });
    await container.start();
    const port = (await container.inspect()).NetworkSettings.Ports['8080/tcp']?.[0]?.HostPort;
    directRoutes.push(`location /direct/${i}/ { proxy_pass http://127.0.0.1:${port}/; }`);
    writeFileSync(
      directNginx.routes,
      `server { listen 127.0.0.1:${directNginx.port}; ${directRoutes.join(' ')} }\n`,
    );
    execFileSync(directNginx.command[0] ?? 'nginx', [...directNginx.command.slice(1), '-s', 'reload'], {
      stdio: 'pipe',
    });
    await answers(`${directNginx.url}/direct/${i}/`);
    return performance.now() - started;
  };

  // The two sides alternate, sample by sample (warden first in even samples, the script first in
  // odd ones): on a shared machine the load swings within seconds, and one block of each side after
  // the other measured the swing as much as the work.
  log(
    `warden: provisioning ${SAMPLES} workspaces one after another; direct: docker create/start + nginx reload, ${SAMPLES} times; alternating`,
  );
  await provision(); // warm-up of each side
  await directOnce(0);
  const warden: number[] = [];
  const direct: number[] = [];
  for (let i = 1; i <= SAMPLES; i++) {
    if (i % 2 === 0) warden.push(await provision());
    direct.push(await directOnce(i));
    if (i % 2 === 1) warden.push(await provision());
  }

  // Where the time goes, from the events' recorded times. An event is recorded at the start of the
  // transaction that appends it, which is when the saga began handling the event before it: so the
  // gap between two transactions is the handling of the first (its agent calls, its commit) and the
  // pickup of the next. Events appended in one transaction (created, started, routed and ready come
  // from one handling of the placement) are named together. Then the routing: from ready to the
  // router's pass that put the route live (the routes read model and the router's tick), the pass
  // itself (reads, `nginx -t`, rename, `nginx -s reload`), and from the reload to the first answer.
  const steps = new Map<string, number[]>();
  const step = (name: string, ms: number) => steps.set(name, [...(steps.get(name) ?? []), ms]);
  for (const { id, startedAt, accepted, answered } of timings.slice(1)) {
    // The provisioning steps: the session opened afterwards (untimed) is not one of them.
    const events = (await t.store.readStream(workspaceStreamId(id))).filter(
      (e) => !e.type.startsWith('WorkspaceSession'),
    );
    const answeredAt = startedAt + answered;
    let previous = startedAt;
    let from = 'POST';
    step('POST → 202', accepted);
    for (let i = 0; i < events.length; ) {
      const at = events[i]!.recordedAt.getTime();
      const together: string[] = [];
      for (; i < events.length && events[i]!.recordedAt.getTime() === at; i++) {
        together.push(events[i]!.type.replace(/^Workspace/, ''));
      }
      step(`${from} → ${together.join('+')}`, at - previous);
      previous = at;
      from = together.at(-1) ?? from;
    }
    // The last reload before the answer: the one that put this route live (provisioning is serial).
    const reload = reloads.filter((r) => r.at >= previous && r.at <= answeredAt).at(-1);
    if (!reload) {
      step(`${from} → answers through nginx (401 without a session)`, answeredAt - previous);
      continue;
    }
    step(`${from} → its router pass starts`, reload.at - reload.tookMs - previous);
    step('router pass (reads, nginx -t, reload)', reload.tookMs);
    step('reloaded → answers through nginx (401 without a session)', answeredAt - reload.at);
  }
  for (const [name, values] of steps) {
    log(
      `  ${name.padEnd(46)} p50 ${round(percentile(values, 50))} ms, p95 ${round(percentile(values, 95))} ms`,
    );
  }

  log(`list: ${RUNNING} running workspaces, GET /v1/workspaces ${LIST_SAMPLES} times`);
  const have = SAMPLES + 1;
  // Five at a time: every request of a tenant appends to its one quota stream, so a burst of dozens
  // serializes there (and on PGlite's single connection) past the request timeout.
  for (let left = RUNNING - have; left > 0; left -= 5) {
    await Promise.all(Array.from({ length: Math.min(5, left) }, () => provision()));
  }
  const list: number[] = [];
  for (let i = 0; i < LIST_SAMPLES + 20; i++) {
    const started = performance.now();
    const answer = await t.request('/v1/workspaces?limit=50', { token: admin.token, tenant: slug });
    const body = (await answer.json()) as { items: unknown[] };
    if (body.items.length !== 50) throw new Error(`the list holds ${body.items.length} workspaces`);
    if (i >= 20) list.push(performance.now() - started);
  }

  const result = {
    samples: SAMPLES,
    warden_p50_ms: round(percentile(warden, 50)),
    warden_p95_ms: round(percentile(warden, 95)),
    direct_p50_ms: round(percentile(direct, 50)),
    direct_p95_ms: round(percentile(direct, 95)),
    provision_vs_direct: round(percentile(warden, 50) / percentile(direct, 50)),
    running_workspaces: RUNNING,
    list_p50_ms: round(percentile(list, 50)),
    list_p95_ms: round(percentile(list, 95)),
    targets: TARGETS,
    verdicts: [
      verdict(
        'provision_vs_direct',
        round(percentile(warden, 50) / percentile(direct, 50)),
        '≤',
        TARGETS.provision_vs_direct,
      ),
      verdict(`list_p95_ms (${RUNNING} running)`, round(percentile(list, 95)), '≤', TARGETS.list_p95_ms),
    ],
    load_average_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
  log(
    `provision p50/p95: warden ${result.warden_p50_ms}/${result.warden_p95_ms} ms, direct ${result.direct_p50_ms}/${result.direct_p95_ms} ms → ratio ${result.provision_vs_direct} (target ≤ ${TARGETS.provision_vs_direct})`,
  );
  log(
    `GET /v1/workspaces with ${RUNNING} running: p50 ${result.list_p50_ms} ms, p95 ${result.list_p95_ms} ms (target ≤ ${TARGETS.list_p95_ms})`,
  );
  log(JSON.stringify(result));
} finally {
  await router.stop();
  await worker.stop();
  await agent.dispose();
  await http.close();
  await Promise.all([daemon.stop(), nginx.stop(), directNginx.stop()]);
  rmSync(dataRoot, { recursive: true, force: true });
  await t.dispose();
}
