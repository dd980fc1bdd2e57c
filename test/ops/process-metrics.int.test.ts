import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPoolGauges } from '../../src/metrics/gauges.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

/** Prometheus text → `name{labels}` → value (comments skipped). */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

describe('/metrics: the Node process and the database pool', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
  });
  afterAll(async () => {
    await t.dispose();
  });

  it('reports the process (CPU, memory, heap, event-loop lag, handles) and the pool beside Warden’s own metrics', async () => {
    const samples = parse(await (await t.request('/metrics')).text());
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_active_handles_total',
    ]) {
      expect(samples.get(name), name).toBeGreaterThanOrEqual(0);
    }
    expect(samples.get('warden_db_pool_connections{state="max"}')).toBe(1);
    expect(samples.get('warden_db_pool_connections{state="total"}')).toBe(1);
    expect(samples.get('warden_db_pool_waiting')).toBeGreaterThanOrEqual(0);
  });
});

for (const kind of databaseKinds) {
  describe(`pool gauges (${kind.name})`, () => {
    it('counts busy connections and the queries waiting for one', async () => {
      const { database, dispose } = await kind.fresh();
      try {
        const metrics = createMetrics();
        registerPoolGauges(metrics, database);
        const max = database.poolStats().max;
        let open!: () => void;
        const gate = new Promise<void>((resolve) => {
          open = resolve;
        });
        // Every connection held in a transaction, and two more queries queued behind them.
        const holders = Array.from({ length: max + 2 }, () =>
          database.db.transaction().execute(async (trx) => {
            await sql`select 1`.execute(trx);
            await gate;
          }),
        );
        const settled = () => {
          const pool = database.poolStats();
          return pool.total === max && pool.idle === 0 && pool.waiting === 2;
        };
        try {
          for (let i = 0; i < 1000 && !settled(); i++) await new Promise((r) => setTimeout(r, 10));
          const busy = parse((await metrics.render()).body);
          expect(busy.get('warden_db_pool_connections{state="total"}')).toBe(max);
          expect(busy.get('warden_db_pool_connections{state="idle"}')).toBe(0);
          expect(busy.get('warden_db_pool_waiting')).toBe(2);
        } finally {
          open();
          await Promise.all(holders);
        }
        const after = parse((await metrics.render()).body);
        expect(after.get('warden_db_pool_waiting')).toBe(0);
        expect(after.get('warden_db_pool_connections{state="idle"}')).toBe(
          after.get('warden_db_pool_connections{state="total"}'),
        );
      } finally {
        await dispose();
      }
    });
  });
}
