import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, runWarden, untilReady } from '../support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'warden-pretty-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('warden serve with LOG_FORMAT=pretty', () => {
  it('logs human-readable lines (not JSON), secrets still hidden, and serves the start page to a browser', async () => {
    const port = await freePort();
    const p = runWarden(['serve'], {
      PORT: String(port),
      WARDEN_DATA_DIR: dir,
      WARDEN_ADMIN_EMAIL: 'root@example.com',
      WARDEN_ARGON2_MEMORY_KIB: '1024',
      WARDEN_ARGON2_TIME_COST: '1',
      LOG_FORMAT: 'pretty',
    });
    const base = `http://127.0.0.1:${port}`;
    await untilReady(base, p.child);
    const page = await fetch(`${base}/`, { headers: { accept: 'text/html', 'x-request-id': 'pretty-1' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<h1>Warden');
    const password = /^ {4}(\S{20})$/m.exec(p.err())?.[1];
    expect(password, p.err()).toBeDefined();
    const login = await fetch(`${base}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant': 'default' },
      body: JSON.stringify({ email: 'root@example.com', password }),
    });
    expect(login.status).toBe(200);
    const { access_token: token } = (await login.json()) as { access_token: string };
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const out = p.out();
    const lines = out.trim().split('\n');
    expect(lines.some((l) => l.includes('INFO') && l.includes('warden is listening'))).toBe(true);
    expect(out).toContain('pretty-1');
    // Not one line is JSON, and no colour codes: stdout is a pipe here.
    expect(lines.filter((l) => l.trimStart().startsWith('{'))).toEqual([]);
    expect(out).not.toContain('\u001b[');
    expect(out).not.toContain(password);
    expect(out).not.toContain(token);
  });
});
