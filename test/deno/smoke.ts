/**
 * Deno smoke test: starts Warden under Deno 2 (the npm package `deno`) on embedded PGlite, creates a
 * tenant over HTTP and lists it, parses a lockfile, streams a tool run, takes a backup (and checks the
 * data folder is locked while it runs), then stops the server with SIGTERM. Run with `npm run test:deno`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import WebSocket from 'ws';

const results: { name: string; ok: boolean; detail?: string }[] = [];
const check = (name: string, ok: boolean, detail?: string) => {
  results.push({ name, ok, ...(detail ? { detail } : {}) });
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${detail && !ok ? `: ${detail}` : ''}`);
};

const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const address = probe.address();
    probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
  });
});
const dataDir = mkdtempSync(join(tmpdir(), 'warden-deno-'));
const base = `http://127.0.0.1:${port}`;
// The binary itself: `npx deno` and the package's bin.cjs wrapper would not pass SIGTERM on to it.
// With install scripts denied, the wrapper links the binary on its first run, so run it once if needed.
const denoDir = join(process.cwd(), 'node_modules', 'deno');
const deno = join(denoDir, process.platform === 'win32' ? 'deno.exe' : 'deno');
if (!existsSync(deno))
  spawnSync(process.execPath, [join(denoDir, 'bin.cjs'), '--version'], { stdio: 'ignore' });
const ADMIN_PASSWORD = 'deno-smoke-plum-orbit-47';
const child = spawn(deno, ['run', '--allow-all', 'src/main.ts', 'serve'], {
  env: {
    ...process.env,
    PORT: String(port),
    WARDEN_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    DATABASE_URL: '',
    WARDEN_ADMIN_EMAIL: 'root@example.com',
    WARDEN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
let exited: number | null | undefined;
const exit = new Promise<void>((resolve) =>
  child.on('exit', (code) => {
    exited = code;
    resolve();
  }),
);

try {
  const deadline = Date.now() + 120_000;
  let ready = false;
  while (!ready && exited === undefined && Date.now() < deadline) {
    ready = await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 250));
  }
  check('the service starts under Deno and becomes ready', ready);
  if (ready) {
    // argon2id (a Node-API addon), Ed25519 signing and the key file all work under Deno: sign in.
    const login = await fetch(`${base}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'default' },
      body: JSON.stringify({ email: 'root@example.com', password: ADMIN_PASSWORD }),
    });
    const tokens = (await login.json()) as { access_token?: string };
    check(
      'the superadmin signs in (POST /v1/auth/login answers 200)',
      login.status === 200,
      JSON.stringify(tokens),
    );
    const auth = { authorization: `Bearer ${tokens.access_token ?? ''}` };
    const created = await fetch(`${base}/v1/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ slug: 'deno-smoke', name: 'Deno smoke', plan: 'basic' }),
    });
    const body = (await created.json()) as { id?: string; position?: string };
    check('POST /v1/tenants answers 201', created.status === 201, JSON.stringify(body));
    const list = await fetch(`${base}/v1/tenants?q=deno-smoke`, {
      headers: { 'x-min-position': body.position ?? '0', ...auth },
    });
    const page = (await list.json()) as { items?: { id: string; slug: string }[] };
    check(
      'GET /v1/tenants lists it (read-your-writes through the projection)',
      list.status === 200 && page.items?.some((i) => i.id === body.id && i.slug === 'deno-smoke') === true,
      JSON.stringify(page),
    );
    // The package firewall's parsing and checks (semver, SPDX, lockfile) run under Deno too.
    const lockfile = readFileSync(
      join(process.cwd(), 'test', 'packages', 'fixtures', 'lockfiles', 'lock-v3.json'),
      'utf8',
    );
    const submitted = await fetch(`${base}/v1/package-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'default', ...auth },
      body: lockfile,
    });
    const request = (await submitted.json()) as { id?: string; packages_total?: number; position?: string };
    const read = await fetch(`${base}/v1/package-requests/${request.id}`, {
      headers: { 'x-tenant': 'default', 'x-min-position': request.position ?? '0', ...auth },
    });
    const detail = (await read.json()) as { packages?: unknown[] };
    check(
      'POST /v1/package-requests parses a lockfile (202) and the request reads back with its packages',
      submitted.status === 202 &&
        request.packages_total === 5 &&
        read.status === 200 &&
        detail.packages?.length === 5,
      JSON.stringify({ request, detail }).slice(0, 500),
    );
    // Tool runs stream over WebSocket through Deno's own upgrade (hono/deno), frames to the final status.
    const run = await fetch(`${base}/v1/tools/hash-identify/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'default', ...auth },
      body: JSON.stringify({ parameters: { hash: '5f4dcc3b5aa765d61d8327deb882cf99' } }),
    });
    const execution = (await run.json()) as { id?: string };
    const streamed = await new Promise<{
      frames: { seq: number; kind: string; data: string }[];
      code?: number;
    }>((resolve) => {
      const frames: { seq: number; kind: string; data: string }[] = [];
      const socket = new WebSocket(`${base.replace('http', 'ws')}/v1/executions/${execution.id}/stream`, {
        headers: { 'x-tenant': 'default', ...auth },
      });
      const timer = setTimeout(() => socket.terminate(), 30_000);
      socket.on('message', (data) => frames.push(JSON.parse(String(data))));
      socket.on('close', (code) => {
        clearTimeout(timer);
        resolve({ frames, code });
      });
      socket.on('error', () => undefined);
    });
    const final = streamed.frames.at(-1);
    check(
      'a tool run streams over WebSocket to its final status (closed with 1000)',
      run.status === 202 &&
        streamed.code === 1000 &&
        final?.kind === 'status' &&
        JSON.parse(final.data).status === 'completed',
      JSON.stringify({ status: run.status, execution, streamed }).slice(0, 500),
    );
    // A backup under Deno: PostgreSQL's base backup of the folder, streamed as a gzipped tar.
    const backup = await fetch(`${base}/v1/admin/backup`, { headers: { 'x-tenant': 'default', ...auth } });
    const names: string[] = [];
    if (backup.ok) {
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        names.push(header.name);
        stream.on('end', next).resume();
      });
      await pipeline(Readable.fromWeb(backup.body as never), createGunzip(), extract);
    }
    check(
      'GET /v1/admin/backup streams a backup: header, files, label, WAL, trailer',
      backup.status === 200 &&
        names[0] === 'warden-backup.json' &&
        names.at(-1) === 'warden-backup-end.json' &&
        names.includes('backup_label') &&
        names.some((n) => n.startsWith('pg_wal/0')),
      JSON.stringify({ status: backup.status, entries: names.length, first: names[0], last: names.at(-1) }),
    );
    check('the data folder is locked to the running process', existsSync(join(dataDir, 'warden.pid')));
  }
  child.kill('SIGTERM');
  await Promise.race([exit, new Promise((r) => setTimeout(r, 20_000))]);
  check('SIGTERM stops it cleanly (exit code 0)', exited === 0, `exit code ${exited}`);
  check('a clean stop unlocks the data folder', !existsSync(join(dataDir, 'warden.pid')));
} finally {
  if (exited === undefined) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
console.log(`deno: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
