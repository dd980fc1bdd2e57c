import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What a started process reports, in this order: started, then data, then close (or error alone). */
export interface LaunchEvents {
  started(pid: number): void;
  data(kind: 'stdout' | 'stderr', text: string): void;
  close(exitCode: number | null, signal: string | null): void;
  error(error: Error): void;
}

export interface LaunchSpec {
  file: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string;
}

/** Starts a process leading its own group, stdin closed, stdout and stderr read as UTF-8 text. */
export type Launcher = (spec: LaunchSpec, events: LaunchEvents) => void;

/** Starts the process from this one (a fork of this process: see {@link helperLauncher}). */
export const directLauncher: Launcher = ({ file, args, env, cwd }, events) => {
  const child = spawn(file, [...args], {
    shell: false,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    cwd,
  });
  child.on('error', (error) => events.error(error));
  if (child.pid === undefined) return;
  events.started(child.pid);
  for (const kind of ['stdout', 'stderr'] as const) {
    child[kind].setEncoding('utf8');
    child[kind].on('data', (text: string) => events.data(kind, text));
  }
  child.on('close', (exitCode, signal) => events.close(exitCode, signal));
};

type HelperMessage =
  | { id: number; pid: number }
  | { id: number; kind: 'stdout' | 'stderr'; data: string }
  | { id: number; exitCode: number | null; signal: string | null }
  | { id: number; error: { code: string; message: string } };

const HELPER = fileURLToPath(new URL('./spawn-helper.mjs', import.meta.url));
/** The one launcher of this process (one spawner serves every runner). */
let shared: Launcher | undefined;

/**
 * Starts processes through a small spawner process of its own (`spawn-helper.mjs`), started at the
 * first launch. Starting a process forks the process that starts it, and the fork's cost grows with
 * that process's memory: 11 ms for a 330 MB Node process against 4 ms for a bare one, measured here,
 * with this process's event loop stopped all along (HTTP requests, output frames and other runs
 * wait). The spawner pays it instead, off this thread. If the spawner dies, the runs it had fail
 * (their processes die with it: it kills their groups, and bwrap's `--die-with-parent`) and the next
 * launch starts another. One spawner serves the whole process. Falls back to {@link directLauncher}
 * where the spawner cannot run (Deno, or a copy without the file).
 */
export function helperLauncher(): Launcher {
  shared ??= 'Deno' in globalThis || !existsSync(HELPER) ? directLauncher : spawnerLauncher();
  return shared;
}

function spawnerLauncher(): Launcher {
  let helper: ChildProcess | undefined;
  const runs = new Map<number, LaunchEvents>();
  let next = 0;

  const start = (): ChildProcess => {
    // No loader and none of this process's flags: the spawner is plain JavaScript and stays small.
    const child = fork(HELPER, [], { execArgv: [], env: {}, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.on('message', (message: HelperMessage) => {
      const run = runs.get(message.id);
      if (!run) return;
      if ('pid' in message) return run.started(message.pid);
      if ('kind' in message) return run.data(message.kind, message.data);
      runs.delete(message.id);
      idle();
      if ('error' in message) {
        run.error(Object.assign(new Error(message.error.message), { code: message.error.code }));
      } else {
        run.close(message.exitCode, message.signal);
      }
    });
    child.on('exit', () => {
      if (helper === child) helper = undefined;
      const lost = [...runs.values()];
      runs.clear();
      for (const run of lost) run.error(new Error('the spawner process stopped'));
    });
    child.on('error', () => undefined);
    return child;
  };
  // The channel keeps this process alive only while a run is under way.
  const idle = () => {
    if (runs.size === 0) helper?.channel?.unref();
  };

  return (spec, events) => {
    if (!helper) {
      helper = start();
      helper.unref();
    }
    const id = next++;
    runs.set(id, events);
    helper.channel?.ref();
    helper.send({ id, ...spec }, (error) => {
      if (!error || !runs.delete(id)) return;
      events.error(error);
      idle();
    });
  };
}
