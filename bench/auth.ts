/**
 * `npm run bench:auth` — issue 4's benchmark. In one run, against a real `warden serve` process over
 * loopback (PostgreSQL from DATABASE_URL, or the local server):
 *   - login_vs_argon2: `POST /v1/auth/login` per second vs raw `argon2.verify` of the same hash per
 *     second, both at the configured (OWASP) parameters and the same concurrency;
 *   - authed_vs_health: authenticated `GET /v1/me` per second vs unauthenticated `GET /health`.
 * The server runs in its own process so the client's work is not the server's, and the measured loops
 * send through node:http, the cheapest client here (support/http-client.ts). Each window also reads
 * where the CPU went per request (support/cpu-ledger.ts): the server's event loop and its other
 * threads (argon2 runs there), PostgreSQL, and this process (the argon2 baseline runs here). Not a
 * test: it prints figures; the last line is one JSON object. Shorter runs: BENCH_AUTH_ROUNDS, BENCH_AUTH_WINDOW_MS;
 * BENCH_AUTH_PROFILE=<dir> writes the server's CPU profile there.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import os from 'node:os';
import { verify } from '@node-rs/argon2';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { argon2idHasher } from '../src/identity/passwords.ts';
import { LedgerWindow, medianLedger } from './support/cpu-ledger.ts';
import { loopbackClient, type Send } from './support/http-client.ts';
import { pairedRatio, rounds, runConcurrent, type Step, summarize } from './support/measure.ts';
import { printTable, round, verdict } from './support/report.ts';
import { spawnWarden, wardenEntry } from './support/warden-process.ts';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const ROUNDS = env('BENCH_AUTH_ROUNDS', 5);
const WARMUP_MS = 500;
const WINDOW_MS = env('BENCH_AUTH_WINDOW_MS', 3000);
/** Logins in flight on both sides: four per core, so a login's database waits overlap other logins' hashing, as on a busy server. */
const LOGIN_CONCURRENCY = 4 * os.availableParallelism();
const READ_CONCURRENCY = 16;
/** GET /v1/me is spread over tenants so the per-tenant plan limit measures its cost, not its refusals. */
const TENANTS = 20;
const PASSWORD = 'plum-orbit-kettle-47';

async function main() {
  const url = process.env.DATABASE_URL || DEFAULT_URL;
  // A database of its own, dropped afterwards: the service migrates it like a fresh install.
  const name = `bench_auth_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const serverUrl = new URL(url);
  serverUrl.pathname = `/${name}`;
  const port = await freePort();
  const profile = process.env.BENCH_AUTH_PROFILE;
  const nodeArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
  const server = await spawnWarden(['serve'], {
    nodeArgs,
    env: {
      ...process.env,
      DATABASE_URL: serverUrl.toString(),
      PORT: String(port),
      LOG_LEVEL: 'warn',
      WARDEN_ADMIN_EMAIL: 'bench@example.com',
      WARDEN_ADMIN_PASSWORD: PASSWORD,
      // The bench logs the same accounts in thousands of times; real limits would (rightly) refuse it.
      WARDEN_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '10000',
      WARDEN_LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '1000000',
      // Logins are anonymous requests, all from this one address.
      WARDEN_ANON_RATE_PER_MINUTE: '100000000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitReady(base);
    const config = loadConfig(process.env);
    const params = {
      memoryCost: config.WARDEN_ARGON2_MEMORY_KIB,
      timeCost: config.WARDEN_ARGON2_TIME_COST,
      parallelism: config.WARDEN_ARGON2_PARALLELISM,
    };
    const hash = await argon2idHasher(params).hash(PASSWORD);

    const root = await login(base, 'default', 'bench@example.com');
    const accounts = await setUp(base, root);
    const tokens = await Promise.all(accounts.map((a) => login(base, a.slug, a.email)));

    const ledgers = new Map<string, [string, number][][]>();
    const window = (name: string) => ({
      warmupMs: WARMUP_MS,
      windowMs: WINDOW_MS,
      cpu: new LedgerWindow(server.pid, (rows) => {
        ledgers.set(name, [...(ledgers.get(name) ?? []), rows]);
      }),
    });
    // The measured loops send through node:http (see support/http-client.ts); setup uses fetch.
    const send = loopbackClient(base);
    const loginStep: Step = async (worker) => {
      const account = accounts[worker % accounts.length]!;
      await measuredLogin(send, account.slug, account.email);
      return 1;
    };
    const verifyStep: Step = async () => {
      if (!(await verify(hash, PASSWORD))) throw new Error('argon2 verify failed');
      return 1;
    };
    let next = 0;
    const meStep: Step = async () => {
      const i = next++ % accounts.length;
      const res = await send('/v1/me', {
        headers: { authorization: `Bearer ${tokens[i]}`, 'x-tenant': accounts[i]!.slug },
      });
      if (res.status !== 200) throw new Error(`/v1/me answered ${res.status}: ${res.text}`);
      return 1;
    };
    const healthStep: Step = async () => {
      const res = await send('/health');
      if (res.status !== 200) throw new Error(`/health answered ${res.status}`);
      return 1;
    };

    console.log(
      `bench:auth — ${ROUNDS} rounds of ${WINDOW_MS} ms windows; argon2id m=${params.memoryCost} KiB t=${params.timeCost} p=${params.parallelism}; ` +
        `${LOGIN_CONCURRENCY} logins / ${READ_CONCURRENCY} reads in flight; ${os.availableParallelism()} cores; server in its own process`,
    );
    const samples = await rounds(
      [
        { name: 'argon2', run: () => runConcurrent(LOGIN_CONCURRENCY, verifyStep, window('argon2')) },
        { name: 'login', run: () => runConcurrent(LOGIN_CONCURRENCY, loginStep, window('login')) },
        { name: 'health', run: () => runConcurrent(READ_CONCURRENCY, healthStep, window('health')) },
        { name: 'me', run: () => runConcurrent(READ_CONCURRENCY, meStep, window('me')) },
      ],
      ROUNDS,
    );
    const get = (name: string) => samples.get(name)!;
    const loginVsArgon2 = pairedRatio(get('login'), get('argon2'));
    const authedVsHealth = pairedRatio(get('me'), get('health'));
    const rate = (name: string) => summarize(get(name)).perSecond;
    printTable([
      { figure: 'argon2.verify (baseline)', value: rate('argon2'), unit: 'per s' },
      {
        figure: 'POST /v1/auth/login',
        value: rate('login'),
        unit: 'per s',
        ratio: { name: 'login_vs_argon2', value: loginVsArgon2 },
        target: '≥ 0.85',
        met: loginVsArgon2 >= 0.85,
      },
      { figure: 'GET /health (baseline)', value: rate('health'), unit: 'per s' },
      {
        figure: 'GET /v1/me (authenticated)',
        value: rate('me'),
        unit: 'per s',
        ratio: { name: 'authed_vs_health', value: authedVsHealth },
        target: '≥ 0.7',
        met: authedVsHealth >= 0.7,
      },
    ]);
    const cpu = [...ledgers].map(([name, perRound]) => ({ name, ...medianLedger(perRound) }));
    console.log('CPU ms per request (argon2: per verify), the median of the rounds, by process and thread:');
    for (const { name, total, shares } of cpu) {
      console.log(
        `  ${name}: ${round(total, 2)} = ${shares.map(([key, ms]) => `${key} ${round(ms, 2)}`).join(', ')}`,
      );
    }
    console.log(
      JSON.stringify({
        warden_entry: wardenEntry(),
        argon2_verify_per_s: round(rate('argon2')),
        login_per_s: round(rate('login')),
        health_per_s: round(rate('health')),
        me_per_s: round(rate('me')),
        login_vs_argon2: round(loginVsArgon2, 3),
        authed_vs_health: round(authedVsHealth, 3),
        verdicts: [
          verdict('login_vs_argon2', round(loginVsArgon2, 3), '≥', 0.85),
          verdict('authed_vs_health', round(authedVsHealth, 3), '≥', 0.7),
        ],
        load_average_1m: round(os.loadavg()[0] ?? 0, 2),
        cpu_ms_per_request: Object.fromEntries(
          cpu.map(({ name, total, shares }) => [
            name,
            { total: round(total, 3), ...Object.fromEntries(shares.map(([k, ms]) => [k, round(ms, 3)])) },
          ]),
        ),
        login_vs_argon2_per_round: get('login').map((s, i) =>
          round(s.perSecond / get('argon2')[i]!.perSecond, 3),
        ),
        authed_vs_health_per_round: get('me').map((s, i) =>
          round(s.perSecond / get('health')[i]!.perSecond, 3),
        ),
      }),
    );
    send.close();
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

interface Account {
  slug: string;
  email: string;
}

/** Tenants (enterprise plan) with one member each, made through the API as the superadmin. */
async function setUp(base: string, rootToken: string): Promise<Account[]> {
  const accounts: Account[] = [];
  for (let i = 0; i < TENANTS; i++) {
    const slug = `bench-${i}-${randomUUID().slice(0, 6)}`;
    const created = await call(base, 'POST', '/v1/tenants', rootToken, undefined, {
      slug,
      name: `Bench ${i}`,
      plan: 'enterprise',
    });
    const position = created.headers.get('x-position') ?? '0';
    const email = `member-${i}@example.com`;
    // The new tenant must be visible to tenant resolution before a request can name it.
    await waitFor(async () => {
      const res = await fetch(`${base}/v1/tenants/${(await created.clone().json()).id}`, {
        headers: { authorization: `Bearer ${rootToken}`, 'x-min-position': position },
      });
      return res.ok;
    });
    await call(base, 'POST', '/v1/users', rootToken, slug, {
      email,
      password: PASSWORD,
      name: 'Member',
      role: 'member',
    });
    accounts.push({ slug, email });
  }
  return accounts;
}

async function call(
  base: string,
  method: string,
  path: string,
  token: string,
  tenant: string | undefined,
  body: unknown,
) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        ...(tenant ? { 'x-tenant': tenant } : {}),
      },
      body: JSON.stringify(body),
    });
    if (res.ok) return res;
    // A tenant just created may not have reached tenant resolution's read model yet.
    if (res.status === 404 && attempt < 50) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
  }
}

async function login(base: string, tenant: string, email: string): Promise<string> {
  const res = await fetch(`${base}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tenant': tenant },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** One sign-in of a measured loop, through the cheap client. */
async function measuredLogin(send: Send, tenant: string, email: string): Promise<void> {
  const res = await send('/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tenant': tenant },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${res.text}`);
}

async function waitReady(base: string) {
  await waitFor(() =>
    fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    ),
  );
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out');
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
