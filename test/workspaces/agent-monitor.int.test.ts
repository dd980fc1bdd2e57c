import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMonitor, agentKeys } from '../../src/workspaces/index.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { registerAgentViaApi } from './agent-support.ts';
import { type BlackholeAgent, startBlackholeAgent } from './blackhole-agent.ts';

/** No Docker needed: agents that enrol and then never answer (blackholed hosts). */
describe('agent heartbeats', () => {
  let t: TestApp;
  let holes: BlackholeAgent[] = [];

  beforeAll(async () => {
    t = await testApp(freshPGlite);
    holes = await Promise.all([startBlackholeAgent(), startBlackholeAgent(), startBlackholeAgent()]);
    const admin = await t.user({ role: 'admin' });
    for (const [i, hole] of holes.entries()) {
      await registerAgentViaApi(
        t,
        admin,
        { url: hole.url, token: 'enrol-anything-will-do' },
        { name: `hung-${i}` },
      );
    }
  });
  afterAll(async () => {
    await Promise.all(holes.map((h) => h.close()));
    await t?.dispose();
  });

  it('asks every agent at once: silent agents do not hold up the heartbeats of the others behind them', async () => {
    const monitor = new AgentMonitor({
      db: t.database.db as never,
      store: t.store,
      clock: () => new Date(),
      // Each call gives up after 5 s (the client's cap); asked one after another, the three would
      // be asked 5 s apart, each only once the call before it gave up.
      silentAfterMs: 60_000,
      keys: agentKeys(t.database.db as never, t.identity.sealer),
      logger: { info: () => {}, warn: () => {}, error: () => {} },
    });
    const round = monitor.check();
    const deadline = Date.now() + 30_000;
    while (!holes.every((h) => h.askedAt().length > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const first = holes.map((h) => h.askedAt()[0] ?? Number.POSITIVE_INFINITY);
    // All three were asked before the first call could have given up.
    expect(Math.max(...first) - Math.min(...first)).toBeLessThan(5_000);
    expect(await round).toEqual([]);
  });
});
