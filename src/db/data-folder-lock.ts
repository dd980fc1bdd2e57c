import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import {
  link,
  mkdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  statfs,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { Worker } from 'node:worker_threads';

/*
 * One process at a time per PGlite data folder. PGlite is PostgreSQL inside the process that opens
 * the folder, with no postmaster to turn a second one away: a `warden keys rotate` run beside
 * `warden serve` on the same folder recovered it as after a crash, wrote its own WAL and checkpoint,
 * and the server's writes after that were lost at its next start (20 of 30 sign-in throttle rows,
 * test/db/data-folder-lock.int.test.ts). So, as PostgreSQL's postmaster.pid does for a server, the
 * folder holds a file naming the process that has it open; a second process is refused, and a file
 * whose process is gone (a crash, SIGKILL) is stale and taken over.
 *
 * A pid says something only in the pid namespace it was read in: a `warden` in another container on
 * the same volume (`docker run --rm -v data:/data warden keys rotate` beside the service) is pid 1
 * there, and the service's pid names nobody, or someone else; judged by it, the live service's lock
 * looked stale and was taken over. So the file also names the namespace, the boot and the host, and
 * a lock written in another pid namespace is judged otherwise:
 *   - on this host (the same boot): by a Unix socket its holder listens on in the folder, which any
 *     process on the host reaches whatever its namespaces: it answers while the holder lives (even
 *     with its event loop held up: the kernel accepts), and a socket nobody listens on says it is
 *     gone (a container restarted after a crash takes its folder back at once);
 *   - else (another host on a shared folder, or no socket): by its refresh: the holder sets the
 *     file's modification time every {@link HEARTBEAT_MS}, and a lock that has gone {@link STALE_MS}
 *     without is stale.
 */

/** How often a holder refreshes its lock file's modification time. */
export const HEARTBEAT_MS = 10_000;
/**
 * How long a lock from another pid namespace may go unrefreshed before it is stale: several beats, so
 * a holder whose event loop a long statement held for a while still keeps its folder.
 */
export const STALE_MS = 60_000;

/** The lock's file, inside the data folder. */
export const LOCK_FILE = 'warden.pid';

export interface LockHolder {
  pid: number;
  /** When the process started, in clock ticks since boot (Linux); tells a reused pid from the holder. */
  started: string | null;
  host: string;
  /**
   * The pid namespace the pid was read in (`/proc/self/ns/pid`) and the boot it ran in
   * (`/proc/sys/kernel/random/boot_id`); null off Linux, absent in a lock of an earlier Warden.
   */
  pidns?: string | null;
  boot?: string | null;
  command: string;
  since: string;
  /** This opening's own id: a release removes the file only while it is still this one's. */
  id: string;
}

export class DataFolderInUseError extends Error {
  constructor(
    readonly folder: string,
    readonly holder: LockHolder,
    /** For a holder in another pid namespace: how long ago its lock was last refreshed, in ms. */
    readonly refreshedMsAgo?: number,
  ) {
    const elsewhere =
      refreshedMsAgo === undefined
        ? ''
        : ` in another pid namespace (another container or host), its lock refreshed ${Math.round(refreshedMsAgo / 1000)} s ago`;
    super(
      `The data folder ${folder} is in use by another Warden process (pid ${holder.pid} on ${holder.host}, ` +
        `"${holder.command}", since ${holder.since}${elsewhere}). Embedded PGlite lets one process open a folder at a ` +
        'time, and a second one would lose the first one’s writes: stop that process first, or ask it through ' +
        `its HTTP API. ${
          refreshedMsAgo === undefined
            ? `If no such process runs (a reused pid), delete ${join(folder, LOCK_FILE)}.`
            : `Once it stops, the folder is free (on another host, once its lock has gone ${STALE_MS / 1000} s unrefreshed).`
        }`,
    );
    this.name = 'DataFolderInUseError';
  }
}

export interface DataFolderLock {
  readonly holder: LockHolder;
  /** Whether the refresh runs on a thread of its own (see `startHeartbeat`). */
  readonly heartbeatOnOwnThread: boolean;
  /** Removes the lock file if it is still this one's. */
  release(): Promise<void>;
}

/**
 * Folders this process holds or is taking (by real path), with the lock it wrote: a second opening in
 * the same process is refused at once, even while the first is still taking the folder.
 */
const heldHere = new Map<string, LockHolder>();

/** What `read` gives, or `fallback` when it throws (a file /proc does not have here). */
function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); null off Linux. */
function startedAt(pid: number): string | null {
  // Fields after "pid (comm) " begin with the state, field 3: the start time is the 20th of them.
  return readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19] ?? null, null);
}

/** Where this process's pid means something: its host, boot and pid namespace. */
const here = {
  host: hostname(),
  pidns: readOr(() => readlinkSync('/proc/self/ns/pid'), null),
  boot: readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), null),
};

/** Whether the lock's pid names a process of this pid namespace, on this boot of this host. */
function samePidSpace(holder: LockHolder): boolean {
  if (holder.host !== here.host) return false;
  // A lock of an earlier Warden names no namespace: judged by its pid, as that Warden judged them.
  if (holder.pidns === undefined) return true;
  return holder.pidns === here.pidns && (holder.boot ?? null) === here.boot;
}

/** The socket a holder listens on (named by its lock's id, so a dead holder's is never a live one's). */
const socketOf = (folder: string, id: string) => join(folder, `${LOCK_FILE}.${id.slice(0, 8)}.sock`);
/** Longest Unix socket path (sun_path is 108 bytes with its terminating NUL on Linux). */
const SOCKET_PATH_MAX = 107;

/**
 * Listens on `path` for as long as the lock is held, answering nothing (a connection is closed at
 * once): bound under a temporary name and renamed into place, so the path never names a socket that
 * does not listen yet. Null where it cannot (a path too long, a file system without sockets).
 */
async function listenOn(path: string): Promise<Server | null> {
  const binding = `${path}.tmp`;
  if (Buffer.byteLength(binding) > SOCKET_PATH_MAX) return null;
  const server = createServer((socket) => socket.destroy());
  server.on('error', () => {});
  try {
    await rm(binding, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(binding, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await rename(binding, path);
    server.unref();
    return server;
  } catch {
    server.close();
    await rm(binding, { force: true }).catch(() => {});
    return null;
  }
}

/** Whether a holder on this host listens on its socket: 'unknown' when it has none (see {@link listenOn}). */
function answers(path: string): Promise<'alive' | 'gone' | 'unknown'> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (verdict: 'alive' | 'gone' | 'unknown') => {
      socket.destroy();
      resolve(verdict);
    };
    // A holder whose accept queue is full, or a file system that hangs: not known to be gone.
    socket.setTimeout(2000, () => done('alive'));
    socket.once('connect', () => done('alive'));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(error.code === 'ECONNREFUSED' ? 'gone' : 'unknown'),
    );
  });
}

/**
 * Whether the process a lock file names still has the folder open: by its pid in this pid namespace;
 * else on this host by its socket; else by how recently the file was refreshed (`refreshedAt`, its
 * modification time in ms).
 */
async function holds(holder: LockHolder, folder: string, refreshedAt: number): Promise<boolean> {
  if (!samePidSpace(holder)) {
    if (here.boot !== null && holder.boot === here.boot && typeof holder.id === 'string') {
      const verdict = await answers(socketOf(folder, holder.id));
      if (verdict !== 'unknown') return verdict === 'alive';
    }
    return Date.now() - refreshedAt < STALE_MS;
  }
  // Our own pid: this process, or one before it that had the same pid (reused in this namespace, or a
  // container's pid 1 in a lock of an earlier Warden). Only this process's own record tells them apart.
  if (holder.pid === process.pid) return heldHere.get(folder)?.id === holder.id;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: it runs, as another user.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const started = startedAt(holder.pid);
  return holder.started === null || started === null || started === holder.started;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    return typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 0
      ? (value as LockHolder)
      : null;
  } catch {
    return null;
  }
}

const readHolder = async (path: string) => parseHolder(await readFile(path, 'utf8').catch(() => ''));

/**
 * Removes the stale lock `staleId` names. Moved aside first, then checked: when another process took
 * the folder over between our read and the move, the lock moved is its fresh one, which goes back.
 */
async function removeStale(path: string, staleId: string | undefined, aside: string) {
  const moved = `${aside}.stale`;
  try {
    await rename(path, moved);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if ((await readHolder(moved))?.id !== staleId) await link(moved, path).catch(() => {});
  await rm(moved, { force: true });
}

/**
 * `statfs` types of file systems that more than one host can mount: NFS, SMB/CIFS, FUSE (sshfs,
 * GlusterFS, s3fs…), Ceph, GPFS, Lustre, OCFS2, GFS2, 9p and virtiofs (a VM's or WSL's shared folder).
 */
const SHARED_FILE_SYSTEMS = new Set([
  0x6969, 0x517b, 0xff534d42, 0xfe534d42, 0x65735546, 0x00c36400, 0x47504653, 0x0bd00bd0, 0x7461636f,
  0x01161970, 0x01021997, 0x6a656a63,
]);

/** Whether another host may open this folder too: its file system is one several hosts mount. */
export async function onSharedFileSystem(folder: string): Promise<boolean> {
  try {
    return SHARED_FILE_SYSTEMS.has(Number((await statfs(folder)).type));
  } catch {
    return false;
  }
}

/** Where the refresh runs: `auto` is a thread of its own on a shared file system, else the main thread. */
export type HeartbeatThread = 'auto' | 'own' | 'main';

/**
 * The refresh a holder in another pid namespace tells a live lock by, while the file is this holder's.
 * Only a holder on another host depends on it (on this host the socket answers), and PGlite runs its
 * statements on the main thread: one that held the loop past {@link STALE_MS} (a rebuild's index build
 * on a large store) stopped the beats, and a process on another host could take the folder while it
 * was in use. So on a file system other hosts mount the beats run on a thread of their own
 * (data-folder-heartbeat.mjs; about 10 MB of memory, which a local folder does not pay). Where a
 * thread cannot start, they run on the main thread.
 */
function startHeartbeat(
  path: string,
  id: string,
  intervalMs: number,
  thread: boolean,
): { onOwnThread: boolean; stop(): Promise<void> } {
  let fallback: ReturnType<typeof setInterval> | undefined;
  const onMainThread = () => {
    fallback ??= setInterval(async () => {
      try {
        if ((await readHolder(path))?.id !== id) return;
        const now = new Date();
        await utimes(path, now, now);
      } catch {
        // The next beat tries again; a folder gone or unwritable fails the database first.
      }
    }, intervalMs);
    fallback.unref();
  };
  let worker: Worker | undefined;
  if (thread) {
    try {
      worker = new Worker(new URL('./data-folder-heartbeat.mjs', import.meta.url), {
        workerData: { path, id, intervalMs },
      });
      worker.on('error', onMainThread);
      worker.unref();
    } catch {
      worker = undefined;
    }
  }
  if (!worker) onMainThread();
  return {
    onOwnThread: worker !== undefined,
    async stop() {
      clearInterval(fallback);
      worker?.removeAllListeners('error');
      await worker?.terminate();
    },
  };
}

/**
 * Takes the data folder for this process, creating the folder if needed. The file appears whole (it
 * is written aside, then hard-linked into place, which fails if one exists), so a reader never sees a
 * half-written lock. A file whose process is gone, or that names nothing, is removed and the link
 * tried again. Throws {@link DataFolderInUseError} while another process (or another opening in this
 * one) holds it.
 */
export async function lockDataFolder(
  folder: string,
  command = process.argv.slice(2).join(' ') || 'warden',
  options: { heartbeatMs?: number; heartbeatThread?: HeartbeatThread } = {},
): Promise<DataFolderLock> {
  await mkdir(folder, { recursive: true });
  const real = await realpath(folder);
  const path = join(real, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    started: startedAt(process.pid),
    host: here.host,
    pidns: here.pidns,
    boot: here.boot,
    command: command.slice(0, 200),
    since: new Date().toISOString(),
    id: randomUUID(),
  };
  const mine = heldHere.get(real);
  if (mine) throw new DataFolderInUseError(folder, mine);
  heldHere.set(real, holder);
  const aside = join(real, `${LOCK_FILE}.${holder.id}`);
  try {
    await writeFile(aside, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
    for (let attempt = 1; ; attempt++) {
      try {
        await link(aside, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error;
      }
      const [current, refreshedAt] = await Promise.all([
        readHolder(path),
        stat(path).then(
          (file) => file.mtimeMs,
          () => 0,
        ),
      ]);
      if (current && (await holds(current, real, refreshedAt))) {
        const ago = samePidSpace(current) ? undefined : Math.max(0, Date.now() - refreshedAt);
        throw new DataFolderInUseError(folder, current, ago);
      }
      await removeStale(path, current?.id, aside);
      if (typeof current?.id === 'string') await rm(socketOf(real, current.id), { force: true });
    }
  } catch (error) {
    heldHere.delete(real);
    throw error;
  } finally {
    await rm(aside, { force: true });
  }
  const listening = await listenOn(socketOf(real, holder.id));
  let released = false;
  const where = options.heartbeatThread ?? 'auto';
  const heartbeat = startHeartbeat(
    path,
    holder.id,
    options.heartbeatMs ?? HEARTBEAT_MS,
    where === 'own' || (where === 'auto' && (await onSharedFileSystem(real))),
  );
  return {
    holder,
    heartbeatOnOwnThread: heartbeat.onOwnThread,
    async release() {
      if (released) return;
      released = true;
      await heartbeat.stop();
      listening?.close();
      await rm(socketOf(real, holder.id), { force: true });
      heldHere.delete(real);
      if ((await readHolder(path))?.id === holder.id) await rm(path, { force: true });
    },
  };
}
