import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { OutputSink } from '../../src/tools/index.ts';
import { processRunner } from '../../src/tools/index.ts';
import { directLauncher } from '../../src/tools/spawner.ts';

const OWNER = fileURLToPath(new URL('./fixtures/spawner-owner.ts', import.meta.url));
const quiet: OutputSink = { write: () => {}, progress: () => {} } as never;

/** The parent pid a process started by `runner` sees (field 4 of /proc/self/stat). */
async function parentOfRun(runner: ReturnType<typeof processRunner>): Promise<number> {
  const { stdout } = await runner.run(['/bin/cat', '/proc/self/stat'], {
    signal: new AbortController().signal,
    output: quiet,
    collectStdout: true,
  });
  return Number(stdout.slice(stdout.lastIndexOf(')') + 2).split(' ')[1]);
}

const sleeping = (seconds: string) =>
  spawnSync('pgrep', ['-f', `^/bin/sleep ${seconds}$`], { encoding: 'utf8' }).stdout.trim();
const writing = (seconds: string) =>
  spawnSync('pgrep', ['-f', `echo noisy-${seconds};`], { encoding: 'utf8' }).stdout.trim();

async function until(what: string, check: () => boolean): Promise<void> {
  // A bound on waiting for something that happens in the background, not a speed assertion.
  for (let i = 0; !check(); i++) {
    if (i > 600) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the tool runner starts processes from a spawner process of its own', () => {
  it('so the process it starts is not a child of this one; the direct launcher’s is', async () => {
    const viaSpawner = await parentOfRun(processRunner({ sandbox: false }));
    expect(viaSpawner).toBeGreaterThan(1);
    expect(viaSpawner).not.toBe(process.pid);
    expect(await parentOfRun(processRunner({ sandbox: false }))).toBe(viaSpawner);
    expect(await parentOfRun(processRunner({ sandbox: false, launcher: directLauncher }))).toBe(process.pid);
  });

  it('stops a run whose abort comes before the spawner has told its pid', async () => {
    const runner = processRunner({ sandbox: false, killGraceMs: 100 });
    const controller = new AbortController();
    const seconds = String(40_000 + Math.floor(Math.random() * 10_000));
    const run = runner.run(['/bin/sleep', seconds], { signal: controller.signal, output: quiet });
    controller.abort();
    const ended = await run;
    expect(ended.signal).toBe('SIGTERM');
    expect(sleeping(seconds)).toBe('');
  });

  it('ends the runs of a process killed with SIGKILL: the spawner kills their groups and exits', async () => {
    const seconds = String(30_000 + Math.floor(Math.random() * 10_000));
    const owner = spawn(process.execPath, ['--import', 'tsx', OWNER, seconds], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await until('the tool process runs', () => sleeping(seconds) !== '');
      owner.kill('SIGKILL');
      await until('the tool process is gone', () => sleeping(seconds) === '');
    } finally {
      owner.kill('SIGKILL');
      const left = sleeping(seconds);
      if (left) spawnSync('kill', ['-9', ...left.split('\n')]);
    }
  });

  it('ends them too when it is killed while the spawner is sending it output (the send fails: EPIPE)', async () => {
    const seconds = String(30_000 + Math.floor(Math.random() * 10_000));
    const owner = spawn(process.execPath, ['--import', 'tsx', OWNER, seconds, 'noisy'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await until('the tool process runs', () => writing(seconds) !== '');
      // Let the output flow for a moment, so sends are under way when the owner dies.
      await new Promise((r) => setTimeout(r, 200));
      owner.kill('SIGKILL');
      await until('the tool process is gone', () => writing(seconds) === '');
    } finally {
      owner.kill('SIGKILL');
      const left = writing(seconds);
      if (left) spawnSync('kill', ['-9', ...left.split('\n')]);
    }
  });
});
