import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY_ENCRYPTION_KEY_FILE } from '../../src/identity/tokens/key-encryption-key.ts';
import { freePort, runWarden, signIn, untilReady } from '../support/cli.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function folder() {
  const dir = mkdtempSync(join(tmpdir(), 'warden-backup-e2e-'));
  dirs.push(dir);
  return dir;
}

const ADMIN = { email: 'root@example.com', password: 'backup-and-restore-e2e-42' };

async function serve(dataDir: string) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const warden = runWarden(['serve'], {
    PORT: String(port),
    WARDEN_DATA_DIR: dataDir,
    WARDEN_ADMIN_EMAIL: ADMIN.email,
    WARDEN_ADMIN_PASSWORD: ADMIN.password,
    WARDEN_ARGON2_MEMORY_KIB: '1024',
    WARDEN_ARGON2_TIME_COST: '1',
  });
  await untilReady(base, warden.child);
  return {
    base,
    warden,
    async stop() {
      warden.child.kill('SIGTERM');
      expect(await warden.exited).toBe(0);
    },
  };
}

describe('a backup of a running Warden, restored by `warden restore`', () => {
  it('is taken while it serves, restores into a new folder (refusing its own), and serves there with the same data', async () => {
    const source = folder();
    const first = await serve(source);
    let backup: string;
    let tenantId: string;
    try {
      const token = await signIn(first.base, ADMIN.email, ADMIN.password);
      expect(token).toBeTruthy();
      const auth = { authorization: `Bearer ${token}`, 'x-tenant': 'default' };
      const created = await fetch(`${first.base}/v1/tenants`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ slug: 'kept-by-backup', name: 'Kept by backup', plan: 'basic' }),
      });
      expect(created.status).toBe(201);
      tenantId = ((await created.json()) as { id: string }).id;

      const response = await fetch(`${first.base}/v1/admin/backup`, { headers: auth });
      expect(response.status).toBe(200);
      backup = join(folder(), 'backup.tar.gz');
      writeFileSync(backup, Buffer.from(await response.arrayBuffer()));
      // Still serving after it.
      expect((await fetch(`${first.base}/v1/tenants/${tenantId}`, { headers: auth })).status).toBe(200);
      await expect.poll(() => first.warden.out() + first.warden.err()).toContain('"msg":"backup taken"');

      // Not into the folder the running Warden holds.
      const refused = runWarden(['restore', backup], { WARDEN_DATA_DIR: source });
      expect(await refused.exited).toBe(1);
      expect(refused.err()).toContain('restore refused');
      expect(refused.err()).toContain(`pid ${first.warden.child.pid}`);
    } finally {
      await first.stop();
    }

    // A folder of its own, without the generated key: restored, with the warning that names the key.
    const bare = join(folder(), 'data');
    const withoutKey = runWarden(['restore', backup], { WARDEN_DATA_DIR: bare });
    expect(await withoutKey.exited).toBe(0);
    expect(withoutKey.out()).toMatch(/^restored \d+ events \(up to position \d+\) into /);
    expect(withoutKey.err()).toContain(`Copy ${KEY_ENCRYPTION_KEY_FILE} from that folder`);
    expect(readdirSync(bare)).not.toContain(KEY_ENCRYPTION_KEY_FILE);

    // With the key copied from the old folder, it serves the same tenant and the same sign-in.
    const target = join(folder(), 'data');
    const restore = runWarden(['restore', backup], { WARDEN_DATA_DIR: target });
    expect(await restore.exited).toBe(0);
    copyFileSync(join(source, KEY_ENCRYPTION_KEY_FILE), join(target, KEY_ENCRYPTION_KEY_FILE));
    const second = await serve(target);
    try {
      const token = await signIn(second.base, ADMIN.email, ADMIN.password);
      expect(token).toBeTruthy();
      const tenant = await fetch(`${second.base}/v1/tenants/${tenantId}`, {
        headers: { authorization: `Bearer ${token}`, 'x-tenant': 'default' },
      });
      expect(tenant.status).toBe(200);
      expect(await tenant.json()).toMatchObject({ slug: 'kept-by-backup' });
    } finally {
      await second.stop();
    }
  }, 180_000);
});
