import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface NginxTarget {
  /** The live routes file the running nginx includes inside `http { }`. */
  routesFile: string;
  /** The command that runs this nginx, with its `-p`/`-c` (e.g. `['nginx', '-p', dir, '-c', conf]`). */
  command: readonly string[];
  /**
   * nginx's pid file: when given, a reload is a SIGHUP to the master whose pid it holds (what
   * `nginx -s reload` does after parsing the whole configuration once more in a process of its own).
   */
  pidFile?: string;
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

async function reload(target: NginxTarget): Promise<void> {
  if (target.pidFile === undefined) {
    const reloaded = await run(target.command, ['-s', 'reload']);
    if (!reloaded.ok) throw new Error(`nginx -s reload failed: ${reloaded.output.trim()}`);
    return;
  }
  const text = await readFile(target.pidFile, 'utf8').catch((error: unknown) => {
    throw new Error(`nginx not reloaded: its pid file ${target.pidFile} cannot be read`, { cause: error });
  });
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 1)
    throw new Error(`nginx not reloaded: its pid file ${target.pidFile} holds no pid`);
  process.kill(pid, 'SIGHUP');
}

/**
 * Validates `text` with `nginx -t` (in a scratch configuration that includes only it), then puts it
 * in place of the live file atomically and reloads nginx. The file checked is the one renamed over
 * the live file (written beside it under a name of its own, so two routers on one host never rename
 * each other's), so what goes live is byte for byte what nginx accepted. A text nginx refuses never
 * reaches the live file: the error is thrown with nginx's own words. Returns false when the live
 * file already holds exactly this text (nothing to do).
 */
export async function applyRoutes(target: NginxTarget, text: string): Promise<boolean> {
  const current = await readFile(target.routesFile, 'utf8').catch(() => undefined);
  if (current === text) return false;
  const next = `${target.routesFile}.${crypto.randomUUID()}.next`;
  const scratch = await mkdtemp(join(dirname(target.routesFile), '.warden-check-'));
  let renamed = false;
  try {
    const main = join(scratch, 'nginx.conf');
    await Promise.all([
      writeFile(next, text),
      writeFile(
        main,
        [
          `pid ${join(scratch, 'nginx.pid')};`,
          `error_log ${join(scratch, 'error.log')};`,
          'events {}',
          `http { include ${next}; }`,
          '',
        ].join('\n'),
      ),
    ]);
    const [bin] = target.command;
    const checked = await run([bin ?? 'nginx'], ['-t', '-q', '-p', scratch, '-c', main]);
    if (!checked.ok)
      throw new NginxConfigError(`nginx refused the rendered routes: ${checked.output.trim()}`);
    await rename(next, target.routesFile);
    renamed = true;
  } finally {
    await Promise.all([
      rm(scratch, { recursive: true, force: true }),
      renamed ? undefined : rm(next, { force: true }),
    ]);
  }
  await reload(target);
  return true;
}
