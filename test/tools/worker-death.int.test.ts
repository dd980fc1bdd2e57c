import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolJobs } from '../../src/processes/tools/index.ts';
import { type LooseJson, type TestApp, testApp } from '../support/app.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';
import { execute, silentServer, toolTenant, toolWorker, waitForStatus } from './support.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tool-worker.ts', import.meta.url));

/** Two processes share one database only on a server: PostgreSQL. */
describe.runIf(databaseUrl)('a tool worker killed mid-run (PostgreSQL)', () => {
  let t: TestApp;
  let survivor: ToolJobs | undefined;
  beforeAll(async () => {
    t = await testApp(() => freshPostgres(6));
  });
  afterAll(async () => {
    await survivor?.stop(1000);
    await t?.dispose();
  });

  it('leaves the execution interrupted once its lease lapses, never running forever, and never runs it twice', async () => {
    const { operator } = await toolTenant(t);
    const silent = await silentServer();
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl!,
        WARDEN_TEST_SCHEMA: t.database.schema,
        WORKER_ID: 'doomed',
        LEASE_MS: '1500',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('started')) resolve();
        });
        child.on('exit', () => reject(new Error('the worker exited early')));
      });
      const res = await execute(t, operator, 'nmap', {
        host: '127.0.0.1',
        ports: String(silent.port),
        serviceDetection: true,
        timing: 2,
      });
      const id = ((await res.json()) as LooseJson).id;
      const running = await waitForStatus(t, operator, id, ['running']);
      expect(running.status).toBe('running');
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      survivor = toolWorker(t, { leaseMs: 1500 });
      const done = await waitForStatus(t, operator, id, ['interrupted', 'completed', 'failed'], 30_000);
      expect(done.status).toBe('interrupted');
      expect(done.error).toContain('doomed');
      const events = await t.store.readStream(`tools.Execution-${id}`);
      expect(events.filter((e) => e.type === 'ExecutionStarted')).toHaveLength(1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await silent.close();
    }
  });
});
