import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, runWarden as run, until, untilReady } from '../support/cli.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
  dirs.push(dir);
  return dir;
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

  // A database nobody listens on: had the command opened it, it would fail instead of answering.
  const nowhere = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/x' };

  it('prints the usage and the version without a configuration or a database', async () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    const top = run(['--help'], nowhere);
    expect(await top.exited).toBe(0);
    expect(top.out()).toContain('Usage: warden');
    const keys = run(['keys', '--help'], { ...nowhere, PORT: 'eighty' });
    expect(await keys.exited).toBe(0);
    expect(keys.out()).toContain('warden keys rotate --tenant <slug>');
    const about = run(['help', 'replay'], nowhere);
    expect(await about.exited).toBe(0);
    expect(about.out()).toContain('warden replay <streamId>');
    const shown = run(['--version'], nowhere);
    expect(await shown.exited).toBe(0);
    expect(shown.out().trim()).toBe(version);
  });

  it('refuses an unknown option with a message on stderr and exit code 2, before opening anything', async () => {
    const p = run(['projections', 'list', '--colour'], nowhere);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain("Unknown option '--colour'");
    expect(p.err()).toContain('warden projections list');
    expect(p.out()).toBe('');
  });

  it('serves: first start makes the superadmin (password shown once), who signs in and creates a tenant; JSON logs with request ids and no secrets; a clean stop on SIGTERM', async () => {
    const port = await freePort();
    const env = {
      PORT: String(port),
      WARDEN_DATA_DIR: dataDir(),
      WARDEN_ADMIN_EMAIL: 'root@example.com',
      WARDEN_ARGON2_MEMORY_KIB: '1024',
      WARDEN_ARGON2_TIME_COST: '1',
    };
    const p = run(['serve'], env);
    const base = `http://127.0.0.1:${port}`;
    await untilReady(base, p.child);
    const ready = (await (await fetch(`${base}/ready`)).json()) as {
      checks: { name: string; ok: boolean }[];
    };
    expect(ready.checks.map((c) => c.name)).toEqual(['database', 'event_store', 'projections']);

    const password = /^ {4}(\S{20})$/m.exec(p.err())?.[1];
    expect(password, p.err()).toBeDefined();
    const login = await fetch(`${base}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'default' },
      body: JSON.stringify({ email: 'root@example.com', password }),
    });
    expect(login.status).toBe(200);
    const { access_token: token } = (await login.json()) as { access_token: string };
    const auth = { authorization: `Bearer ${token}` };
    // The first-start message names the route that changes the password; this sign-in stays valid.
    expect(p.err()).toContain('POST /v1/me/password');
    const changed = await fetch(`${base}/v1/me/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'default', ...auth },
      body: JSON.stringify({ current_password: password, new_password: 'root-chose-this-one-e2e' }),
    });
    expect(changed.status).toBe(204);

    const anonymous = await fetch(`${base}/v1/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'cli-e2e', name: 'CLI' }),
    });
    expect(anonymous.status).toBe(401);
    const created = await fetch(`${base}/v1/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'cli-e2e-1', ...auth },
      body: JSON.stringify({ slug: 'cli-e2e', name: 'CLI' }),
    });
    expect(created.status).toBe(201);
    const list = await fetch(`${base}/v1/tenants`, {
      headers: { 'x-min-position': created.headers.get('x-position')!, ...auth },
    });
    const slugs = ((await list.json()) as { items: { slug: string }[] }).items.map((i) => i.slug);
    expect(slugs).toEqual(expect.arrayContaining(['default', 'cli-e2e'])); // default: first-start bootstrap

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const out = p.out();
    expect(out).not.toContain(password);
    expect(out).not.toContain(token);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.requestId === 'cli-e2e-1')).toMatchObject({
      status: 201,
      path: '/v1/tenants',
    });
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });

    // A second start finds the superadmin and prints no password again.
    const again = run(['serve'], { ...env, PORT: String(await freePort()) });
    await until(async () => again.out().includes('warden is listening'), again.child);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
    expect(again.err()).not.toContain('generated password');

    // A SIGTERM while it starts (its workers claiming partitions, before it listens) is a clean stop
    // once started, never a death by the signal: the signal is taken before anything starts. Taken
    // only after the "listening" line, a signal sent the instant that line was read killed a CI run's
    // server (exit by SIGTERM, nothing drained).
    const starting = run(['serve'], { ...env, PORT: String(await freePort()) });
    await until(async () => starting.out().includes('claimed partitions'), starting.child);
    starting.child.kill('SIGTERM');
    expect({ code: await starting.exited, err: starting.err() }).toEqual({ code: 0, err: '' });
    const said = starting
      .out()
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    const after = said.slice(said.indexOf('warden is listening'));
    expect(after.slice(0, 2)).toEqual(['warden is listening', 'shutting down: finishing in-flight requests']);
    expect(after.at(-1)).toBe('stopped');
  });

  it('lists and rotates token signing keys', async () => {
    const env = { WARDEN_DATA_DIR: dataDir() };
    const list = run(['keys', 'list'], env);
    expect(await list.exited).toBe(0);
    const states = (text: string) =>
      text
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split(/\s+/)[1]);
    expect(states(list.out()).sort()).toEqual(['active', 'pending']);
    const tooSoon = run(['keys', 'rotate'], env);
    expect(await tooSoon.exited).toBe(1);
    expect(tooSoon.out()).toContain('too briefly');
    const forced = run(['keys', 'rotate', '--force'], env);
    expect(await forced.exited).toBe(0);
    expect(forced.out()).toMatch(/^activated \S+\nretired +\S+\npending +\S+/);
    const after = run(['keys', 'list'], env);
    expect(await after.exited).toBe(0);
    expect(states(after.out()).sort()).toEqual(['active', 'pending', 'retired']);
    // Four one-shot commands, each opening the PGlite folder (the first creates and migrates it):
    // 7–18 s each at CI's load, and a CI run beside other work passed 60 s.
  }, 180_000);
});
