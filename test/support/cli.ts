import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

const bin = join(process.cwd(), 'bin', 'warden.js');

/**
 * Runs the real `warden` command (`bin/warden.js`, as the container does: one process, which receives
 * the signals) on PGlite unless `env` names a database.
 */
export function runWarden(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [bin, ...args], {
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
