import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

const bin = join(process.cwd(), 'bin', 'warden.js');

/**
 * Runs the real `warden` command (`bin/warden.js`, one process, which receives the signals) on PGlite
 * unless `env` names a database. `entry`: another entry script, the production build's (what
 * `npm start` and the container run). `launcher`: a command that runs node (`unshare …`), if any.
 */
export function runWarden(args: string[], env: Record<string, string>, entry = bin, launcher: string[] = []) {
  const [command = process.execPath, ...before] = [...launcher, process.execPath];
  const child = spawn(command, [...before, entry, ...args], {
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

/** A port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Polls until `condition` holds; fails when the process exits first or the time runs out. */
export async function until(condition: () => Promise<boolean>, child?: ChildProcess, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && (child === undefined || child.exitCode === null)) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('not ready in time');
}

/** Waits until the server at `base` answers `/ready` (failing if `child` exits first). */
export function untilReady(base: string, child?: ChildProcess, timeoutMs?: number) {
  return until(
    () =>
      fetch(`${base}/ready`).then(
        (r) => r.ok,
        () => false,
      ),
    child,
    timeoutMs,
  );
}

/** Signs in over HTTP; the access token, or undefined when the server refuses. */
export async function signIn(base: string, email: string, password: string, tenant = 'default') {
  const response = await fetch(`${base}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tenant': tenant },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) return undefined;
  return ((await response.json()) as { access_token: string }).access_token;
}

/** The first-start admin `startFirewall` signs in as. */
export const FIREWALL_ADMIN = { email: 'root@example.com', password: 'correct horse battery staple 42' };

/**
 * A real `warden serve` (PGlite in `dataDir`) as the package firewall between two registries, with
 * advisory data from `osvPath`, cheap argon2 (tests), and its first-start admin signed in.
 */
export async function startFirewall(options: {
  upstream: string;
  target: { url: string; token: string };
  osvPath: string;
  dataDir: string;
}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const warden = runWarden(['serve'], {
    PORT: String(port),
    WARDEN_DATA_DIR: options.dataDir,
    WARDEN_ADMIN_EMAIL: FIREWALL_ADMIN.email,
    WARDEN_ADMIN_PASSWORD: FIREWALL_ADMIN.password,
    WARDEN_ARGON2_MEMORY_KIB: '1024',
    WARDEN_ARGON2_TIME_COST: '1',
    WARDEN_UPSTREAM_REGISTRY: options.upstream,
    WARDEN_TARGET_REGISTRY: options.target.url,
    WARDEN_TARGET_REGISTRY_TOKEN: options.target.token,
    WARDEN_OSV_PATH: options.osvPath,
  });
  await untilReady(base, warden.child).catch((error: Error) => {
    warden.child.kill('SIGKILL');
    throw new Error(`${error.message}: exit ${warden.child.exitCode}, ${warden.err().slice(-2000)}`);
  });
  const token = await signIn(base, FIREWALL_ADMIN.email, FIREWALL_ADMIN.password);
  if (!token) throw new Error(`the first-start admin could not sign in: ${warden.err()}`);
  return { base, warden, token };
}
