import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, runWarden, until, untilReady } from '../support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'warden-upkeep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('warden serve on PGlite', () => {
  it('vacuums and analyzes what autovacuum would (PGlite runs none): logged table by table, counted in /metrics, stopped with the server', async () => {
    const port = await freePort();
    const p = runWarden(['serve'], {
      WARDEN_DATA_DIR: dir,
      PORT: String(port),
      WARDEN_PGLITE_UPKEEP_MS: '200',
      WARDEN_ADMIN_EMAIL: 'root@example.com',
      WARDEN_ADMIN_PASSWORD: 'correct horse battery staple 42',
      WARDEN_ARGON2_MEMORY_KIB: '1024',
      WARDEN_ARGON2_TIME_COST: '1',
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      await untilReady(base, p.child);
      // A new database: the migrations filled the catalogs and the bootstrap the event store.
      await until(async () => p.out().includes('"msg":"table upkeep'), p.child, 30_000);
      const line = p
        .out()
        .split('\n')
        .find((l) => l.includes('"msg":"table upkeep'));
      const logged = JSON.parse(line!) as { tables: { table: string; action: string; ms: number }[] };
      expect(logged.tables.length).toBeGreaterThan(0);
      for (const done of logged.tables) {
        expect(done.table).toMatch(/^(public|pg_catalog)\.\w+$/);
        expect(['vacuum', 'vacuum_analyze', 'analyze', 'freeze']).toContain(done.action);
        expect(done.ms).toBeGreaterThanOrEqual(0);
      }
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/warden_table_upkeep_total\{action="(vacuum|vacuum_analyze|analyze)"\} [1-9]/);
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited, p.err().slice(-2000)).toBe(0);
  });
});
