import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.ts';

export interface Registry {
  url: string;
  /** A token with publish rights. */
  token: string;
  /** The registry's storage folder (tarballs and package.json files, as Verdaccio keeps them). */
  storage: string;
  stop(): Promise<void>;
}

export interface VerdaccioOptions {
  /** Another registry this one proxies: what it does not hold, it fetches from there (and caches). */
  uplink?: string;
}

const bin = join(process.cwd(), 'node_modules', 'verdaccio', 'bin', 'verdaccio');

function configOf(dir: string, options: VerdaccioOptions): string {
  return [
    `storage: ${join(dir, 'storage')}`,
    'auth:',
    '  htpasswd:',
    `    file: ${join(dir, 'htpasswd')}`,
    '    max_users: 1000',
    // No uplink unless asked: there is no internet here, and a test must not reach a public registry by accident.
    ...(options.uplink
      ? ['uplinks:', '  upstream:', `    url: ${options.uplink}`, '    timeout: 10s', '    maxage: 0s']
      : ['uplinks: {}']),
    'packages:',
    "  '**':",
    '    access: $all',
    '    publish: $authenticated',
    '    unpublish: $authenticated',
    ...(options.uplink ? ['    proxy: upstream'] : []),
    // The web UI is not needed and its assets cost start-up time.
    'web:',
    '  enable: false',
    // JWT API tokens: the default legacy token holds the password, so every authenticated request
    // (each publish) re-checks it against bcrypt, about 80 ms of CPU each.
    'security:',
    '  api:',
    '    jwt:',
    '      sign:',
    '        expiresIn: 7d',
    'max_body_size: 200mb',
    'log: { type: stdout, format: json, level: error }',
    '',
  ].join('\n');
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/-/ping`, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * A real Verdaccio registry in its own process on 127.0.0.1, with an empty storage of its own and
 * no uplinks unless `uplink` is given (no internet here): tests publish to it what they need.
 * Returns a token with publish rights. Starts in about two seconds.
 */
export async function startVerdaccio(options: VerdaccioOptions = {}): Promise<Registry> {
  // The port is free when freePort looks, not always when Verdaccio binds it: another process (an
  // outgoing connection of a parallel test takes ephemeral ports too) may take it in between, and
  // Verdaccio then exits with 2 ("cannot create http server"). Another port, then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startVerdaccioOnce(options);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 3) throw error;
    }
  }
}

/** Verdaccio could not listen on the port it was given (exit code 2). */
class PortTaken extends Error {}

async function startVerdaccioOnce(options: VerdaccioOptions): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-verdaccio-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, configOf(dir, options));
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, '--config', config, '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Polled often: start-up is about two seconds and every test file with a registry waits for it.
    const deadline = Date.now() + 60_000;
    while (!(await answers(url))) {
      if (child.exitCode === 2) throw new PortTaken(`verdaccio could not listen on ${port}`);
      if (child.exitCode !== null) throw new Error(`verdaccio exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('verdaccio did not answer /-/ping within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const user = `warden${port}`;
    const created = await fetch(`${url}/-/user/org.couchdb.user:${user}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: user, password: 'fixture-password-1' }),
    });
    if (!created.ok) throw new Error(`verdaccio refused the user: ${created.status} ${await created.text()}`);
    const { token } = (await created.json()) as { token: string };
    return { url, token, storage, stop };
  } catch (error) {
    await stop();
    if (error instanceof PortTaken) throw error;
    throw new Error(`verdaccio did not start: ${(error as Error).message}\n${stderr}`);
  }
}
