import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backup, takeBackup } from '../../src/db/backup.ts';
import { connectPGlite, isPGlite } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { restoreBackup } from '../../src/db/restore.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('GET /v1/admin/backup on PGlite', () => {
  let t: TestApp;
  let backups: Backup[];
  let request: TestApp['request'];
  beforeAll(async () => {
    // On a folder, as `warden serve` opens it: a backup copies the folder from disk.
    const dir = mkdtempSync(join(tmpdir(), 'warden-backup-http-'));
    dirs.push(dir);
    t = await testApp(async () => {
      const database = await connectPGlite({ dataDir: join(dir, 'data') });
      await migrate(database);
      return { database, dispose: () => database.close() };
    });
    const database = t.database;
    if (!isPGlite(database)) throw new Error('PGlite expected');
    backups = [];
    request = t.variant({
      backup: async () => {
        const backup = await takeBackup(database, { wardenVersion: 'test', generatedKey: false });
        backups.push(backup);
        return backup;
      },
    });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('gives the platform superadmin the whole database, which restores with every event', async () => {
    const owner = await t.user({ role: 'owner' });
    const created = await request('/v1/projects', {
      token: owner.token,
      tenant: owner.tenantSlug,
      json: { key: 'BAK', name: 'Backed up' },
    });
    expect(created.status).toBe(201);
    // In the read model before the backup, so the restored one must show it.
    await expect
      .poll(
        async () =>
          (await sql`select 1 from project_list where key = 'BAK'`.execute(t.database.db)).rows.length,
      )
      .toBe(1);
    const root = await t.superadmin();
    const response = await request('/v1/admin/backup', { token: root.token, tenant: root.tenantSlug });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/gzip');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-disposition')).toMatch(
      /^attachment; filename="warden-backup-\d{8}T\d{6}Z\.tar\.gz"$/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'warden-backup-http-'));
    dirs.push(dir);
    const restored = await restoreBackup(Readable.fromWeb(response.body as never), join(dir, 'data'));
    expect(restored.manifest).toEqual(await backups.at(-1)!.done);
    expect(restored.manifest.events).toBeGreaterThan(0);
    const copy = await connectPGlite({ dataDir: join(dir, 'data') });
    try {
      const projects = await sql<{ key: string }>`select key from project_list where key = 'BAK'`.execute(
        copy.db,
      );
      expect(projects.rows).toEqual([{ key: 'BAK' }]);
    } finally {
      await copy.close();
    }
  }, 60_000);

  it('refuses anyone else before taking anything: a tenant owner 403, no token 401', async () => {
    const before = backups.length;
    const owner = await t.user({ role: 'owner' });
    const forbidden = await request('/v1/admin/backup', { token: owner.token, tenant: owner.tenantSlug });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('content-type')).toContain('application/problem+json');
    expect((await request('/v1/admin/backup', { tenant: owner.tenantSlug })).status).toBe(401);
    expect(backups.length).toBe(before);
  });
});

describe.runIf(databaseUrl)('GET /v1/admin/backup on PostgreSQL', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPostgres);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('answers 501: the server is backed up with its own tools', async () => {
    const root = await t.superadmin();
    const response = await t.request('/v1/admin/backup', { token: root.token, tenant: root.tenantSlug });
    expect(response.status).toBe(501);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await response.json()) as { type: string; detail: string };
    expect(problem.type).toMatch(/\/problems\/backup-unavailable$/);
    expect(problem.detail).toContain('PostgreSQL server');
  });
});
