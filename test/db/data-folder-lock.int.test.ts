import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DataFolderInUseError,
  LOCK_FILE,
  lockDataFolder,
  onSharedFileSystem,
  STALE_MS,
} from '../../src/db/data-folder-lock.ts';
import { connectPGlite } from '../../src/db/database.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function folder() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-lock-'));
  dirs.push(dir);
  return dir;
}
const lockOf = (dir: string) =>
  JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as Record<string, unknown>;
/** A lock file as another process wrote it: on this host, naming no pid namespace (an earlier Warden's) unless `holder` does. */
const plant = (dir: string, holder: Record<string, unknown>) =>
  writeFileSync(
    join(dir, LOCK_FILE),
    JSON.stringify({ host: hostname(), command: 'serve', since: 'then', ...holder }),
  );
/** Sets the lock file's modification time `msAgo` in the past (as its last refresh). */
const refreshedAgo = (dir: string, msAgo: number) => {
  const then = new Date(Date.now() - msAgo);
  utimesSync(join(dir, LOCK_FILE), then, then);
};

/** A process that is gone: its pid names nobody (until the system reuses it). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}
/** A process that runs until killed. */
function sleeper(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
}
const startTimeOf = (pid: number) =>
  readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!;

describe('one process at a time per PGlite data folder', () => {
  it('refuses a second opening while the first holds the folder, and lets it in once the first closes', async () => {
    const dir = folder();
    const first = await connectPGlite({ dataDir: dir });
    expect(lockOf(dir)).toMatchObject({ pid: process.pid });
    const refused = await connectPGlite({ dataDir: dir }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(DataFolderInUseError);
    expect((refused as Error).message).toContain(`pid ${process.pid}`);
    expect((refused as Error).message).toContain(dir);
    await first.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    const second = await connectPGlite({ dataDir: dir });
    await second.close();
  });

  it('two openings at once in one process: one gets the folder, the other is refused', async () => {
    const dir = folder();
    const [a, b] = await Promise.allSettled([lockDataFolder(dir), lockDataFolder(dir)]);
    const got = [a, b].filter((r) => r.status === 'fulfilled');
    const refused = [a, b].filter((r) => r.status === 'rejected');
    expect(got).toHaveLength(1);
    expect(refused.map((r) => (r as PromiseRejectedResult).reason)).toEqual([
      expect.any(DataFolderInUseError),
    ]);
    await (got[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockDataFolder>>>).value.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('refuses while another process that is running holds it', async () => {
    const dir = folder();
    const other = sleeper();
    try {
      await new Promise((resolve) => other.on('spawn', resolve));
      const started = existsSync('/proc/self/stat') ? startTimeOf(other.pid!) : null;
      plant(dir, { pid: other.pid, started, id: 'theirs' });
      await expect(lockDataFolder(dir)).rejects.toThrow(`pid ${other.pid} on ${hostname()}, "serve"`);
      expect(lockOf(dir)).toMatchObject({ id: 'theirs' });
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over a lock left by a process that is gone, one naming nothing, and this pid’s earlier life', async () => {
    for (const holder of [
      { pid: await deadPid(), started: null, id: 'crashed' },
      // A container's pid 1 again after a restart: the same pid, not an opening of this process.
      { pid: process.pid, started: null, id: 'earlier-life' },
    ]) {
      const dir = folder();
      plant(dir, holder);
      const lock = await lockDataFolder(dir);
      expect(lockOf(dir)).toMatchObject({ pid: process.pid, id: lock.holder.id });
      await lock.release();
    }
    const dir = folder();
    writeFileSync(join(dir, LOCK_FILE), 'not a lock');
    const lock = await lockDataFolder(dir);
    expect(lockOf(dir)).toMatchObject({ id: lock.holder.id });
    await lock.release();
  });

  it.runIf(existsSync('/proc/self/stat'))(
    'takes over a lock whose pid now belongs to another process (its start time differs)',
    async () => {
      const dir = folder();
      const other = sleeper();
      try {
        await new Promise((resolve) => other.on('spawn', resolve));
        plant(dir, { pid: other.pid, started: '1', id: 'reused' });
        const lock = await lockDataFolder(dir);
        expect(lockOf(dir)).toMatchObject({ id: lock.holder.id });
        await lock.release();
      } finally {
        other.kill('SIGKILL');
      }
    },
  );

  it('a release leaves a lock that is no longer its own', async () => {
    const dir = folder();
    const lock = await lockDataFolder(dir);
    plant(dir, { pid: process.pid, started: null, id: 'someone-else' });
    await lock.release();
    expect(lockOf(dir)).toMatchObject({ id: 'someone-else' });
  });

  it('eight processes racing for a folder with a stale lock: exactly one gets it', async () => {
    const dir = folder();
    plant(dir, { pid: await deadPid(), started: null, id: 'crashed' });
    const script = join(dir, 'racer.mts');
    writeFileSync(
      script,
      `import { lockDataFolder } from ${JSON.stringify(join(process.cwd(), 'src/db/data-folder-lock.ts'))};
      try { await lockDataFolder(process.argv[2]); console.log('got'); setTimeout(() => {}, 600000); }
      catch (error) { console.log(error.name); }`,
    );
    // The winner holds the folder until it is killed, so a racer that starts late still meets it.
    const racers = Array.from({ length: 8 }, () =>
      spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    const outcomes = await Promise.all(
      racers.map(
        (child) =>
          new Promise<string>((resolve) => {
            let out = '';
            child.stdout!.on('data', (d: Buffer) => {
              out += d.toString();
              if (out.includes('\n')) resolve(out.trim());
            });
            child.on('exit', () => resolve(out.trim()));
          }),
      ),
    ).finally(() => {
      for (const child of racers) child.kill('SIGKILL');
    });
    expect(outcomes.filter((o) => o === 'got')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'DataFolderInUseError')).toHaveLength(7);
  }, 60_000);

  it('judges a lock from another pid namespace or host by its refresh, not by a pid that means nothing here', async () => {
    for (const elsewhere of [
      // Another container on the same volume: by pid alone, this pid's earlier life (taken over before).
      { pid: process.pid, pidns: 'pid:[4026531836]', boot: 'another-container', id: 'container' },
      // Another host sharing the folder: by pid alone, a process that is gone here.
      { host: 'another-host', pid: await deadPid(), pidns: null, boot: null, id: 'host' },
    ]) {
      const dir = folder();
      plant(dir, { started: null, ...elsewhere });
      refreshedAgo(dir, STALE_MS - 10_000);
      const refused = await lockDataFolder(dir).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DataFolderInUseError);
      expect((refused as Error).message).toContain('in another pid namespace (another container or host)');
      expect(lockOf(dir)).toMatchObject({ id: elsewhere.id });
      // Its holder stopped refreshing it a while ago: gone with its container or host.
      refreshedAgo(dir, STALE_MS + 1000);
      const lock = await lockDataFolder(dir);
      expect(lockOf(dir)).toMatchObject({ id: lock.holder.id, pidns: lock.holder.pidns });
      await lock.release();
    }
  });

  it('a holder refreshes its lock while it holds the folder', async () => {
    const dir = folder();
    const lock = await lockDataFolder(dir, 'serve', { heartbeatMs: 20 });
    try {
      refreshedAgo(dir, 10 * 60_000);
      const deadline = Date.now() + 10_000;
      while (Date.now() - statSync(join(dir, LOCK_FILE)).mtimeMs > 5000 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(Date.now() - statSync(join(dir, LOCK_FILE)).mtimeMs).toBeLessThan(5000);
    } finally {
      await lock.release();
    }
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('on a file system other hosts mount, the refresh goes on while a statement holds the main thread', async () => {
    // PGlite runs on the main thread: a rebuild's index build on a large store can hold it past the
    // stale limit. A holder on another host judges the lock by the refresh alone, so on a shared file
    // system the refresh has a thread of its own. This folder is local (no NFS here): the thread is
    // asked for, and the main-thread refresh of a local folder is shown failing the same check.
    const aged = 10 * 60_000;
    const refreshedIntoHold = async (heartbeatThread: 'own' | 'main') => {
      const dir = folder();
      expect(await onSharedFileSystem(dir)).toBe(false);
      const lock = await lockDataFolder(dir, 'serve', { heartbeatMs: 20, heartbeatThread });
      try {
        expect(lock.heartbeatOnOwnThread).toBe(heartbeatThread === 'own');
        // Beating: an aged refresh comes back to now.
        refreshedAgo(dir, aged);
        const deadline = Date.now() + 10_000;
        while (Date.now() - statSync(join(dir, LOCK_FILE)).mtimeMs > 5000 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(Date.now() - statSync(join(dir, LOCK_FILE)).mtimeMs).toBeLessThan(5000);
        // Aged again, then the main thread held for 1.5 s, read before it lets any timer run. What is
        // read is the last refresh against the moment the hold began: a main-thread beat whose write
        // was already on the thread pool may land inside the hold, but it carries a time from before.
        refreshedAgo(dir, aged);
        const held = Date.now();
        while (Date.now() < held + 1500) {
          // A statement holding the main thread.
        }
        return statSync(join(dir, LOCK_FILE)).mtimeMs - held;
      } finally {
        await lock.release();
      }
    };
    expect(await refreshedIntoHold('own')).toBeGreaterThan(1);
    expect(await refreshedIntoHold('main')).toBeLessThan(1);
  });

  it('a local folder keeps the refresh on the main thread (a thread costs about 10 MB)', async () => {
    const lock = await lockDataFolder(folder(), 'serve');
    try {
      expect(lock.heartbeatOnOwnThread).toBe(false);
    } finally {
      await lock.release();
    }
  });

  it.runIf(existsSync('/proc/sys/kernel/random/boot_id'))(
    'on this host, a lock from another pid namespace is judged by its socket: taken over at once when nobody listens, refused while its holder does',
    async () => {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      // Another container on this host (the same boot), whose pid means nothing here.
      const holder = { pid: process.pid, started: null, pidns: 'pid:[1]', boot };
      const socketFor = (dir: string, id: string) => join(dir, `${LOCK_FILE}.${id.slice(0, 8)}.sock`);

      // Its holder was killed: the socket file is left with nobody listening (a container restarted
      // after a crash). Freshly refreshed, yet taken over at once, and its socket goes with it.
      const dir = folder();
      const dead = socketFor(dir, 'deadbeef-crashed');
      const child = spawn(
        process.execPath,
        ['-e', `require('node:net').createServer().listen(${JSON.stringify(dead)}, () => console.log('up'))`],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('exit', resolve));
      expect(existsSync(dead)).toBe(true);
      plant(dir, { ...holder, id: 'deadbeef-crashed' });
      const lock = await lockDataFolder(dir);
      expect(lockOf(dir)).toMatchObject({ id: lock.holder.id });
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(socketFor(dir, lock.holder.id))).toBe(true);
      await lock.release();
      expect(existsSync(socketFor(dir, lock.holder.id))).toBe(false);

      // Its holder listens: refused, however old its refresh (its event loop may be held up).
      const busy = folder();
      const live = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => live.listen(socketFor(busy, 'cafebabe-running'), resolve));
      try {
        plant(busy, { ...holder, id: 'cafebabe-running' });
        refreshedAgo(busy, 10 * STALE_MS);
        await expect(lockDataFolder(busy)).rejects.toThrow('in another pid namespace');
        expect(lockOf(busy)).toMatchObject({ id: 'cafebabe-running' });
      } finally {
        await new Promise((resolve) => live.close(resolve));
      }
    },
  );
});
