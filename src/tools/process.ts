import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { ProcessRunner } from './protocol.ts';
import { helperLauncher, type Launcher } from './spawner.ts';

/** Where executables are looked up, and the only PATH a run sees. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessLimits {
  /** CPU seconds (RLIMIT_CPU). */
  cpuSeconds: number;
  /** Address space in bytes (RLIMIT_AS). */
  memoryBytes: number;
  openFiles: number;
  processes: number;
}

export const defaultLimits: ProcessLimits = {
  cpuSeconds: 120,
  memoryBytes: 1024 * 1024 * 1024,
  openFiles: 1024,
  processes: 256,
};

/** The absolute path of an executable (a name is looked up on PATH), or undefined when there is none. */
export function findExecutable(name: string, path = SYSTEM_PATH): string | undefined {
  const candidates = isAbsolute(name) ? [name] : path.split(delimiter).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export interface ProcessRunnerOptions {
  limits?: ProcessLimits;
  /** Between SIGTERM and SIGKILL when a run is cancelled or times out. */
  killGraceMs?: number;
  /** Folders the run must not see (Warden's data folder): an empty tmpfs hides each under bwrap. */
  hidden?: readonly string[];
  /** Use bubblewrap where it is installed (default true). */
  sandbox?: boolean;
  /** Bytes of stdout kept for the parser (the output store has its own cap). */
  maxCollectBytes?: number;
  /** How processes are started (default: through the spawner process, {@link helperLauncher}). */
  launcher?: Launcher;
}

/**
 * Runs binaries without a shell: an argument array, a scrubbed environment (PATH and a C locale,
 * nothing of Warden's), resource limits by `prlimit` (CPU time, address space, open files,
 * processes), and — where `bwrap` is installed — a read-only view of the system, a private `/tmp`,
 * a private process namespace, the unprivileged user `nobody` and no sight of the hidden folders.
 * The process leads its own group: an abort sends the group SIGTERM, then SIGKILL after the grace.
 */
export function processRunner(options: ProcessRunnerOptions = {}): ProcessRunner & {
  sandboxed: boolean;
  limited: boolean;
} {
  const limits = options.limits ?? defaultLimits;
  const grace = options.killGraceMs ?? 2000;
  const prlimit = findExecutable('prlimit');
  const bwrap = options.sandbox === false ? undefined : findExecutable('bwrap');
  const maxCollect = options.maxCollectBytes ?? 16 * 1024 * 1024;
  const launch = options.launcher ?? helperLauncher();
  const wrap = (argv: readonly string[]): string[] => {
    let command = [...argv];
    if (bwrap) {
      command = [
        bwrap,
        '--ro-bind',
        '/',
        '/',
        '--dev',
        '/dev',
        '--proc',
        '/proc',
        '--tmpfs',
        '/tmp',
        ...(options.hidden ?? []).filter((dir) => existsSync(dir)).flatMap((dir) => ['--tmpfs', dir]),
        '--unshare-pid',
        '--unshare-ipc',
        '--unshare-user',
        '--uid',
        '65534',
        '--gid',
        '65534',
        '--die-with-parent',
        '--',
        ...command,
      ];
    }
    if (prlimit) {
      command = [
        prlimit,
        `--cpu=${limits.cpuSeconds}`,
        `--as=${limits.memoryBytes}`,
        `--nofile=${limits.openFiles}`,
        `--nproc=${limits.processes}`,
        '--',
        ...command,
      ];
    }
    return command;
  };
  return {
    sandboxed: bwrap !== undefined,
    limited: prlimit !== undefined,
    run(argv, { signal, output, collectStdout }) {
      const [file, ...args] = wrap(argv);
      return new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        let collected = '';
        let pid: number | undefined;
        let killTimer: ReturnType<typeof setTimeout> | undefined;
        const signalGroup = (name: NodeJS.Signals) => {
          try {
            if (pid) process.kill(-pid, name);
          } catch {}
        };
        const terminate = () => {
          signalGroup('SIGTERM');
          killTimer = setTimeout(() => signalGroup('SIGKILL'), grace);
        };
        // Not started yet: it is signalled as soon as its pid is known.
        const onAbort = () => pid && terminate();
        signal.addEventListener('abort', onAbort, { once: true });
        const settle = () => {
          signal.removeEventListener('abort', onAbort);
          clearTimeout(killTimer);
        };
        launch(
          {
            file: file!,
            args,
            env: { PATH: SYSTEM_PATH, LANG: 'C', LC_ALL: 'C', HOME: '/tmp' },
            cwd: '/tmp',
          },
          {
            started(started) {
              pid = started;
              if (signal.aborted) terminate();
            },
            data(kind, text) {
              output.write(kind, text);
              if (kind === 'stdout' && collectStdout && collected.length < maxCollect) collected += text;
            },
            error(error) {
              settle();
              reject(error);
            },
            close(exitCode, killedBy) {
              settle();
              resolve({ exitCode, signal: killedBy, stdout: collected });
            },
          },
        );
      });
    },
  };
}
