import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
  dirs.push(dir);
  return dir;
}

function run(args: string[], env: Record<string, string>) {
  const child = spawn(tsx, ['src/main.ts', ...args], {
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function until(condition: () => Promise<boolean>, child: ChildProcess, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('not ready in time');
}

describe('the warden command', () => {
  it('refuses a bad configuration, naming every bad variable, and exits non-zero', async () => {
    const p = run(['serve'], { PORT: 'eighty', DATABASE_URL: 'mysql://nope', WARDEN_WORKERS: 'sometimes' });
    expect(await p.exited).toBe(2);
    for (const variable of ['PORT', 'DATABASE_URL', 'WARDEN_WORKERS']) expect(p.err()).toContain(variable);
    expect(p.err()).not.toContain('nope'); // values are not echoed: they may hold credentials
  });

  it('migrates an empty data folder and says so', async () => {
    const p = run(['migrate'], { WARDEN_DATA_DIR: dataDir() });
    expect(await p.exited).toBe(0);
    expect(p.out()).toContain('database is up to date');
  });

  it('rejects an unknown command with the usage', async () => {
    const p = run(['frobnicate'], {});
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain('Usage: warden');
  });

  it('serves: ready, a tenant round trip, JSON logs with request ids, and a clean stop on SIGTERM', async () => {
    const port = await freePort();
    const p = run(['serve'], { PORT: String(port), WARDEN_DATA_DIR: dataDir() });
    const base = `http://127.0.0.1:${port}`;
    await until(
      () =>
        fetch(`${base}/ready`).then(
          (r) => r.ok,
          () => false,
        ),
      p.child,
    );
    const ready = (await (await fetch(`${base}/ready`)).json()) as {
      checks: { name: string; ok: boolean }[];
    };
    expect(ready.checks.map((c) => c.name)).toEqual(['database', 'event_store', 'projections']);

    const created = await fetch(`${base}/v1/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'cli-e2e-1' },
      body: JSON.stringify({ slug: 'cli-e2e', name: 'CLI' }),
    });
    expect(created.status).toBe(201);
    const list = await fetch(`${base}/v1/tenants`, {
      headers: { 'x-min-position': created.headers.get('x-position')! },
    });
    const slugs = ((await list.json()) as { items: { slug: string }[] }).items.map((i) => i.slug);
    expect(slugs).toEqual(expect.arrayContaining(['default', 'cli-e2e'])); // default: first-start bootstrap

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const lines = p
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.requestId === 'cli-e2e-1')).toMatchObject({
      status: 201,
      path: '/v1/tenants',
    });
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
  });
});
