import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, until } from './cli.ts';

export interface Registry {
  url: string;
  /** A token with publish rights. */
  token: string;
  stop(): Promise<void>;
}

const bin = join(process.cwd(), 'node_modules', 'verdaccio', 'bin', 'verdaccio');

/**
 * A real Verdaccio registry in its own process on 127.0.0.1, with an empty storage of its own and
 * no uplinks (no internet here): tests publish to it what they need. Returns a publish token.
 */
export async function startVerdaccio(): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-verdaccio-'));
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      '    max_users: 100',
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    unpublish: $authenticated',
      'max_body_size: 200mb',
      'log: { type: stdout, format: json, level: error }',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, '--config', config, '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      () =>
        fetch(`${url}/-/ping`).then(
          (r) => r.ok,
          () => false,
        ),
      child,
      60_000,
    );
    const user = `warden${port}`;
    const created = await fetch(`${url}/-/user/org.couchdb.user:${user}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: user, password: 'fixture-password-1' }),
    });
    if (!created.ok) throw new Error(`verdaccio refused the user: ${created.status} ${await created.text()}`);
    const { token } = (await created.json()) as { token: string };
    return { url, token, stop };
  } catch (error) {
    await stop();
    throw new Error(`verdaccio did not start: ${(error as Error).message}\n${stderr}`);
  }
}
