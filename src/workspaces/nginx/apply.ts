import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface NginxTarget {
  /** The live routes file the running nginx includes inside `http { }`. */
  routesFile: string;
  /** The command that runs this nginx, with its `-p`/`-c` (e.g. `['nginx', '-p', dir, '-c', conf]`). */
  command: readonly string[];
}

export class NginxConfigError extends Error {
  readonly code = 'NGINX_CONFIG_INVALID' as const;
}

function run(command: readonly string[], extra: string[]): Promise<{ ok: boolean; output: string }> {
  const [bin, ...args] = command;
  return new Promise((resolve) => {
    execFile(bin ?? 'nginx', [...args, ...extra], { timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ ok: !error, output: `${stdout}${stderr}` }),
    );
  });
}

/**
 * Validates `text` with `nginx -t` (in a scratch configuration that includes only it), then puts it
 * in place of the live file atomically (write beside it, rename) and reloads nginx. A text nginx
 * refuses never reaches the live file: the error is thrown with nginx's own words. Returns false
 * when the live file already holds exactly this text (nothing to do).
 */
export async function applyRoutes(target: NginxTarget, text: string): Promise<boolean> {
  const current = await readFile(target.routesFile, 'utf8').catch(() => undefined);
  if (current === text) return false;
  const scratch = await mkdtemp(join(dirname(target.routesFile), '.warden-check-'));
  try {
    const candidate = join(scratch, 'routes.conf');
    const main = join(scratch, 'nginx.conf');
    await writeFile(candidate, text);
    await writeFile(
      main,
      [
        `pid ${join(scratch, 'nginx.pid')};`,
        `error_log ${join(scratch, 'error.log')};`,
        'events {}',
        `http { include ${candidate}; }`,
        '',
      ].join('\n'),
    );
    const [bin] = target.command;
    const checked = await run([bin ?? 'nginx'], ['-t', '-q', '-p', scratch, '-c', main]);
    if (!checked.ok)
      throw new NginxConfigError(`nginx refused the rendered routes: ${checked.output.trim()}`);
    // A name of its own: two routers on one host never rename each other's half-written file.
    const next = `${target.routesFile}.${crypto.randomUUID()}.next`;
    await writeFile(next, text);
    await rename(next, target.routesFile);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const reloaded = await run(target.command, ['-s', 'reload']);
  if (!reloaded.ok) throw new Error(`nginx -s reload failed: ${reloaded.output.trim()}`);
  return true;
}
