import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, runWarden, until } from '../support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'warden-worker-health-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('warden worker with WARDEN_WORKER_HEALTH_PORT', () => {
  it('answers /health at once and /ready once the database answers and its partitions are claimed; nothing else', async () => {
    const port = await freePort();
    const p = runWarden(['worker'], {
      WARDEN_DATA_DIR: dir,
      WARDEN_WORKER_HEALTH_PORT: String(port),
      WARDEN_WORKER_ID: 'health-e2e',
    });
    const base = `http://127.0.0.1:${port}`;
    const get = (path: string) =>
      fetch(`${base}${path}`).then(
        async (r) => ({ status: r.status, body: await r.text() }),
        () => undefined,
      );
    try {
      await until(async () => (await get('/health'))?.status === 200, p.child);
      await until(async () => (await get('/ready'))?.status === 200, p.child);
      const ready = JSON.parse((await get('/ready'))!.body) as {
        status: string;
        checks: { name: string; ok: boolean; detail?: { worker?: string; partitions?: number } }[];
      };
      expect(ready.status).toBe('ready');
      expect(ready.checks.map((c) => c.name)).toEqual(['database', 'partitions']);
      const partitions = ready.checks.find((c) => c.name === 'partitions')!;
      expect(partitions.detail?.worker).toBe('health-e2e');
      // Alone, the worker owns every partition of every process manager.
      expect(partitions.detail?.partitions).toBeGreaterThan(0);
      // Only health: no API, no metrics, no docs on this port.
      for (const path of ['/v1/projects', '/metrics', '/docs', '/'])
        expect((await get(path))?.status).toBe(404);
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exited).toBe(0);
    expect(p.out()).toContain('worker health listening');
    // Its heap is held to 50% growth past each full collection's survivors unless configured.
    expect(p.out()).toMatch(/"heapGrowthPercent":50\b.*"worker started"/);
  });
});
