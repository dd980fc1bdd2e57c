import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { buildDist } from '../../scripts/build.ts';
import { OFF_THREAD_BYTES } from '../../src/packages/lockfile-off-thread.ts';
import { freePort, runWarden, signIn, untilReady } from '../support/cli.ts';
import { silentServer } from '../tools/support.ts';

const run = promisify(execFile);
const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple 42' };

/** The processes whose parent is `pid`, with their command lines. */
async function childrenOf(pid: number): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the command's closing parenthesis: state, then the parent's pid.
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
    found.push((await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' '));
  }
  return found;
}

/**
 * A pnpm-lock.yaml larger than what is read on the caller's thread, of two packages and comments: the
 * size decides where it is read, and few packages keep the pipeline's work (and embedded PGlite's
 * time on the event loop) small.
 */
function largeLockfile(): string {
  const comments = Array.from(
    { length: 2 * 1024 },
    (_, i) => `# ${String(i).padStart(4, '0')} ${'-'.repeat(64)}`,
  );
  const packages = ['a', 'b'].flatMap((name) => [
    `  ${name}@1.0.0:`,
    `    resolution: {integrity: sha512-${'A'.repeat(86)}==}`,
    '',
  ]);
  return ["lockfileVersion: '9.0'", ...comments, '', 'packages:', '', ...packages].join('\n');
}

/**
 * `npm run build` bundles the sources into `dist/`, which `npm start` and the container image run with
 * plain node. The files the sources find beside themselves at run time (the lockfile thread's entry,
 * the tools' spawner, the docs UI's package) are what a bundle gets wrong, and none of it is seen by a
 * suite that runs the sources through tsx: each is driven here through the built entry alone.
 */
describe('the production build (node dist/warden.mjs)', { timeout: 300_000 }, () => {
  // Under the checkout, where the bundle finds node_modules, as dist/ does.
  const out = join(process.cwd(), 'node_modules', '.cache', `warden-build-${process.pid}`);
  let entry: string;
  let dataDir: string;

  beforeAll(async () => {
    ({ entry } = await buildDist(out));
    dataDir = await mkdtemp(join(tmpdir(), 'warden-build-'));
  }, 120_000);
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('answers --version from package.json, and a usage error with 2', async () => {
    const { stdout } = await run(process.execPath, [entry, '--version']);
    expect(stdout.trim()).toBe(packageJson.version);
    const wrong = await run(process.execPath, [entry, 'no-such-command']).catch(
      (error: { code: number }) => error,
    );
    expect(wrong).toMatchObject({ code: 2 });
  });

  it('serves from the bundle: docs UI, sign-in, a large lockfile on the lockfile thread, a tool through the spawner', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const target = await silentServer();
    const warden = runWarden(
      ['serve'],
      {
        PORT: String(port),
        WARDEN_DATA_DIR: dataDir,
        WARDEN_ADMIN_EMAIL: ADMIN.email,
        WARDEN_ADMIN_PASSWORD: ADMIN.password,
        WARDEN_ARGON2_MEMORY_KIB: '1024',
        WARDEN_ARGON2_TIME_COST: '1',
        WARDEN_TOOL_DENIED_TARGETS: 'none',
      },
      entry,
    );
    try {
      await untilReady(base, warden.child).catch((error: Error) => {
        throw new Error(`${error.message}: ${warden.err().slice(-2000)}`);
      });
      // No TypeScript loader in the process: plain node runs the bundle.
      const cmdline = await readFile(`/proc/${warden.child.pid}/cmdline`, 'utf8');
      expect(cmdline.split('\0')).toEqual([process.execPath, entry, 'serve', '']);

      // The docs UI's files come from swagger-ui-dist, resolved from the bundle's folder.
      const docs = await fetch(`${base}/docs/assets/swagger-ui.css`);
      expect(docs.status).toBe(200);
      expect((await docs.text()).length).toBeGreaterThan(1000);

      const token = await signIn(base, ADMIN.email, ADMIN.password);
      if (!token) throw new Error(`the first-start admin could not sign in: ${warden.err()}`);
      const headers = { authorization: `Bearer ${token}`, 'x-tenant': 'default' };

      // Above OFF_THREAD_BYTES the lockfile is read by the bundled lockfile-worker.mjs.
      const lockfile = largeLockfile();
      expect(lockfile.length).toBeGreaterThan(OFF_THREAD_BYTES);
      const submitted = await fetch(`${base}/v1/package-requests`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/yaml' },
        body: lockfile,
      });
      expect(submitted.status).toBe(202);
      expect(await submitted.json()).toMatchObject({ status: 'received', packages_total: 2 });
      const broken = await fetch(`${base}/v1/package-requests`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/yaml' },
        body: `${lockfile}\n  broken: [unclosed\n`,
      });
      expect(broken.status).toBe(422);
      expect(await broken.json()).toMatchObject({
        errors: [{ message: expect.stringMatching(/not valid YAML/) }],
      });

      // nmap runs through the copied spawn-helper.mjs, a child of the server.
      const allow = await fetch(`${base}/v1/tools/targets`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ targets: ['127.0.0.1/32'] }),
      });
      expect(allow.status).toBe(200);
      const started = await fetch(`${base}/v1/tools/nmap/executions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ parameters: { host: '127.0.0.1', ports: String(target.port) } }),
      });
      expect(started.status).toBe(202);
      const { id } = (await started.json()) as { id: string };
      let execution: { status: string; result: { open?: number[] } | null } = { status: '', result: null };
      await expect
        .poll(
          async () => {
            execution = await (await fetch(`${base}/v1/executions/${id}`, { headers })).json();
            return execution.status;
          },
          { timeout: 120_000, interval: 200 },
        )
        .toBe('completed');
      expect(execution.result?.open).toEqual([target.port]);
      const spawner = (await childrenOf(warden.child.pid!)).filter((c) => c.includes('spawn-helper.mjs'));
      expect(spawner).toEqual([`${process.execPath} ${join(out, 'spawn-helper.mjs')} `]);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}; exit ${warden.child.exitCode}; ${warden.err().slice(-3000)}`,
      );
    } finally {
      warden.child.kill('SIGTERM');
      await warden.exited;
      await target.close();
    }
  });
});
