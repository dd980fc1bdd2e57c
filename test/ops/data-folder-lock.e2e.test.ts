import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/db/data-folder-lock.ts';
import { connectPGlite } from '../../src/db/database.ts';
import { freePort, runWarden, untilReady } from '../support/cli.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A folder `warden migrate` made once (and left unlocked): each case starts from a copy of it, as a
 * restarted service does, instead of migrating a new one (half of a case's start, 8–10 s under CI's load).
 */
let migrated: string;
beforeAll(async () => {
  migrated = mkdtempSync(join(tmpdir(), 'warden-folder-'));
  dirs.push(migrated);
  const migrate = runWarden(['migrate'], { WARDEN_DATA_DIR: migrated });
  expect(await migrate.exited).toBe(0);
  expect(existsSync(join(migrated, LOCK_FILE))).toBe(false);
}, 120_000);

/** A new data folder, already migrated. */
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-folder-'));
  dirs.push(dir);
  cpSync(migrated, dir, { recursive: true });
  return dir;
}

/** Failed sign-ins of distinct accounts: each leaves a throttle row the server writes. */
async function failSignIns(base: string, from: number, to: number) {
  for (let i = from; i <= to; i++) {
    const response = await fetch(`${base}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'default' },
      body: JSON.stringify({ email: `someone-${i}@example.com`, password: 'not-the-password-1' }),
    });
    expect(response.status).toBe(401);
  }
}

/**
 * A new pid namespace, as a container has: the process in it is pid 1 and sees none of the host's
 * processes (root only; where it cannot be made, the case is skipped).
 */
const NEW_PID_NAMESPACE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
const canUnshare = spawnSync(NEW_PID_NAMESPACE[0]!, [...NEW_PID_NAMESPACE.slice(1), 'true']).status === 0;

/**
 * `warden serve` on a new folder: `during` runs while it serves (`base` its URL); then SIGTERM (it must
 * exit 0), and the folder opened again to count the failed sign-ins' throttle rows the server wrote.
 */
async function besideServe(
  during: (serve: ReturnType<typeof runWarden>, base: string, dir: string) => Promise<void>,
): Promise<{ dir: string; throttleRows: number }> {
  const dir = folder();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serve = runWarden(['serve'], {
    PORT: String(port),
    WARDEN_DATA_DIR: dir,
    WARDEN_ARGON2_MEMORY_KIB: '1024',
    WARDEN_ARGON2_TIME_COST: '1',
  });
  try {
    await untilReady(base, serve.child);
    await during(serve, base, dir);
  } finally {
    serve.child.kill('SIGTERM');
  }
  expect(await serve.exited).toBe(0);
  const database = await connectPGlite({ dataDir: dir });
  try {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from warden_login_throttle where key like 'account:%'`.execute(database.db);
    return { dir, throttleRows: rows[0]!.n };
  } finally {
    await database.close();
  }
}

/**
 * `warden serve` on a new folder (through `launcher`, if any), killed with SIGKILL once ready: its lock
 * stays, and `warden migrate` then takes the folder over and leaves it free. Returns the lock it left.
 */
async function killedThenTakenOver(launcher: string[] = []): Promise<Record<string, unknown>> {
  const dir = folder();
  const port = await freePort();
  const serve = runWarden(['serve'], { PORT: String(port), WARDEN_DATA_DIR: dir }, undefined, launcher);
  await untilReady(`http://127.0.0.1:${port}`, serve.child);
  serve.child.kill('SIGKILL');
  await serve.exited;
  const left = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as Record<string, unknown>;
  const migrate = runWarden(['migrate'], { WARDEN_DATA_DIR: dir });
  expect(await migrate.exited).toBe(0);
  expect(migrate.out()).toContain('database is up to date');
  expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  return left;
}

describe('a PGlite data folder in use by `warden serve`', () => {
  it('refuses another warden command on it, which before this lost the server’s later writes; a clean stop frees it', async () => {
    const { dir, throttleRows } = await besideServe(async (serve, base, dir) => {
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({
        pid: serve.child.pid,
        command: 'serve',
      });
      await failSignIns(base, 1, 10);
      // The command an operator would run beside the service: before the lock it opened the folder,
      // recovered it as after a crash and wrote its own checkpoint; 20 of the server's 30 rows were
      // then missing after a restart.
      const rotate = runWarden(['keys', 'rotate', '--force'], { WARDEN_DATA_DIR: dir });
      expect(await rotate.exited).toBe(1);
      expect(rotate.err()).toContain(`in use by another Warden process (pid ${serve.child.pid}`);
      expect(rotate.err()).toContain('"serve"');
      expect(rotate.out()).toBe('');
      await failSignIns(base, 11, 30);
    });
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(throttleRows).toBe(30);
  }, 120_000);

  it('after a SIGKILL the next command takes the folder over (the lock names a process that is gone)', async () => {
    await killedThenTakenOver();
  }, 120_000);

  it.runIf(canUnshare)(
    'refuses a command from another pid namespace (another container on the same volume), whose pids say nothing of the server',
    async () => {
      const { throttleRows } = await besideServe(async (serve, base, dir) => {
        await failSignIns(base, 1, 5);
        // As `docker run --rm -v data:/data warden keys rotate` beside the service's container: pid 1
        // there, and the server's pid names nobody (or someone else).
        const rotate = runWarden(
          ['keys', 'rotate', '--force'],
          { WARDEN_DATA_DIR: dir },
          undefined,
          NEW_PID_NAMESPACE,
        );
        expect(await rotate.exited).toBe(1);
        expect(rotate.err()).toContain(`in use by another Warden process (pid ${serve.child.pid}`);
        expect(rotate.err()).toContain('another pid namespace');
        await failSignIns(base, 6, 10);
      });
      expect(throttleRows).toBe(10);
    },
    120_000,
  );

  it.runIf(canUnshare)(
    'after a SIGKILL of the server in another pid namespace, a command on this host takes the folder at once (nobody answers its socket)',
    async () => {
      // As a container's service killed by the kernel (OOM): its lock file and socket stay behind,
      // freshly refreshed, and its pid 1 is a live process here: only the socket tells it is gone.
      const holder = await killedThenTakenOver(NEW_PID_NAMESPACE);
      expect(holder).toMatchObject({ pid: 1, command: 'serve' });
    },
    120_000,
  );
});
