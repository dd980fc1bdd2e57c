import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { healthRoutes } from '../../src/http/ops/health.ts';
import { createLogger } from '../../src/logger.ts';
import { openService, type Service } from '../../src/service.ts';

type Ready = { status: string; checks: { name: string; ok: boolean; detail?: unknown }[] };

/**
 * `/ready` over the service's own readiness checks (as `warden serve` mounts them), on a PGlite data
 * folder of its own: ready when store, database and projections are fine; 503 naming the check when
 * a projection lags past WARDEN_READY_MAX_LAG or the database is gone.
 */
describe('/ready', () => {
  let dir: string;
  let service: Service;
  const ready = async () => {
    const res = await healthRoutes(service.readiness).request('http://localhost/ready');
    const body = (await res.json()) as Ready;
    return { status: res.status, body, failing: body.checks.filter((c) => !c.ok).map((c) => c.name) };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-ready-'));
    const config = loadConfig({ WARDEN_DATA_DIR: dir, WARDEN_READY_MAX_LAG: '0' });
    service = await openService(config, createLogger('silent'));
    await service.engine.start();
  });
  afterAll(async () => {
    await service.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('is ready with the store, the database and every projection caught up', async () => {
    const deadline = Date.now() + 30_000;
    let result = await ready();
    while (result.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      result = await ready();
    }
    expect(result.status).toBe(200);
    expect(result.body.checks.map((c) => c.name)).toEqual(['database', 'event_store', 'projections']);
  });

  it('fails when a projection lags beyond the bound, naming it', async () => {
    await service.engine.stop();
    await service.store.append(`tenancy.Tenant-${crypto.randomUUID()}`, [
      {
        id: crypto.randomUUID(),
        type: 'TenantRenamed',
        data: { tenantId: crypto.randomUUID(), name: 'Lagging', at: new Date().toISOString() },
      },
    ]);
    const result = await ready();
    expect(result.status).toBe(503);
    expect(result.body.status).toBe('not_ready');
    expect(result.failing).toEqual(['projections']);
  });

  it('fails, without hanging or a 500, when the database is unreachable', async () => {
    await service.database.close();
    const result = await ready();
    expect(result.status).toBe(503);
    expect(result.failing).toEqual(expect.arrayContaining(['database', 'event_store']));
  });
});
