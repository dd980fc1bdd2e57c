import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkspacesReadTables } from '../../src/projections/workspaces/index.ts';
import { agentClient, agentKeys } from '../../src/workspaces/index.ts';
import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { type Dockerd, importBaseImage, startDockerd } from '../support/docker.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';
import { type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'provisioning-worker.ts');
const COUNT = 4;

// Worker processes share the database with the test: PGlite is one process, so this needs DATABASE_URL
// (CI's PostgreSQL run sets it).
describe.runIf(databaseUrl)('SIGKILL of the provisioning worker at any step, then restart', () => {
  let t: TestApp;
  let daemon: Dockerd;
  let agent: RunningAgent;
  let admin: SignedInUser;
  let image: string;
  let inspector: ReturnType<typeof agentClient>;
  let worker: ChildProcess | undefined;
  let schema: string;
  let kills = 0;

  /** Starts the worker process; resolves once it runs (has claimed its partitions). */
  const startWorker = () => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        WARDEN_TEST_SCHEMA: schema,
        WORKER_ID: 'w1',
        // The worker opens the agent keys the app sealed: the same key-encryption key.
        WARDEN_KEY_ENCRYPTION_KEY: t.keyEncryptionKeyText,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    worker = child;
    return new Promise<void>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('started')) resolve();
      });
      child.once('exit', () => resolve());
    });
  };
  const killWorker = async () => {
    const child = worker;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    daemon = await startDockerd();
    [t, agent, image] = await Promise.all([
      testApp(async () => {
        const fresh = await freshPostgres();
        schema = (fresh.database as unknown as { schema: string }).schema;
        return fresh;
      }),
      startAgent(daemon),
      importBaseImage(daemon),
    ]);
    admin = await t.user({ role: 'admin' });
    const { id } = await registerAgentViaApi(t, admin, agent, {
      name: 'host-a',
      capacity: { cpus: 8, memory_mb: 8192, workspaces: 20 },
    });
    inspector = agentClient({
      url: agent.url,
      key: (await agentKeys(t.database.db as never, t.identity.sealer).get(id)) ?? '',
    });
  });
  afterAll(async () => {
    await killWorker();
    await agent?.dispose();
    await daemon?.stop();
    await t?.dispose();
  });

  const statusOf = async (id: string) => {
    const answer = await t.request(`/v1/workspaces/${id}`, { token: admin.token, tenant: admin.tenantSlug });
    if (answer.status === 404) return 'gone';
    return ((await answer.json()) as { status: string }).status;
  };

  /** Kills the worker every `everyMs` while `done` is false, restarting it each time. */
  async function underFire(
    done: () => Promise<boolean>,
    everyMs: number[],
    describe: () => Promise<string>,
    // Generous: each restart compiles the worker (tsx), which at load 20+ takes seconds, seven times over.
    timeoutMs = 300_000,
  ) {
    const deadline = Date.now() + timeoutMs;
    let round = 0;
    await startWorker();
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`did not settle under SIGKILLs: ${await describe()}`);
      // Killed a little while after it started working: in the middle of some step.
      await new Promise((r) => setTimeout(r, everyMs[round % everyMs.length]));
      round++;
      if (round <= 6) {
        await killWorker();
        kills++;
        await startWorker();
      }
    }
  }

  it('ends every workspace ready with exactly one container, then deletes them with no container or route left', {
    timeout: 700_000,
  }, async () => {
    const users = await Promise.all(
      Array.from({ length: COUNT }, () => t.register({ tenantId: admin.tenantId, role: 'member' })),
    );
    const ids: string[] = [];
    for (const u of users) {
      const answer = await t.request('/v1/workspaces', {
        token: admin.token,
        tenant: admin.tenantSlug,
        json: { image, user_id: u.userId, resources: { cpus: 0.25, memory_mb: 32 } },
      });
      expect(answer.status).toBe(202);
      ids.push(((await answer.json()) as { id: string }).id);
    }
    await underFire(
      async () => (await Promise.all(ids.map(statusOf))).every((s) => s === 'ready' || s === 'failed'),
      [150, 400, 250, 700],
      async () => JSON.stringify(await Promise.all(ids.map(statusOf))),
    );
    expect(await Promise.all(ids.map(statusOf))).toEqual(ids.map(() => 'ready'));
    expect(kills).toBeGreaterThan(0);
    for (const id of ids) {
      const containers = (await inspector.list([`warden.workspace=${id}`])).items;
      expect(containers).toHaveLength(1);
      expect(containers[0]?.running).toBe(true);
    }

    await killWorker();
    for (const id of ids) {
      const deleted = await t.request(`/v1/workspaces/${id}`, {
        token: admin.token,
        tenant: admin.tenantSlug,
        method: 'DELETE',
      });
      expect(deleted.status).toBe(202);
    }
    await underFire(
      async () => (await Promise.all(ids.map(statusOf))).every((s) => s === 'gone'),
      [100, 300, 200],
      async () => JSON.stringify(await Promise.all(ids.map(statusOf))),
    );
    expect((await inspector.list(['warden.managed=true'])).items).toEqual([]);
    const db = t.database.db as unknown as Kysely<WorkspacesReadTables>;
    // The routes read model catches up with the deletions: no stale route.
    const deadline = Date.now() + 10_000;
    let routes = await db.selectFrom('workspace_routes').selectAll().execute();
    while (routes.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      routes = await db.selectFrom('workspace_routes').selectAll().execute();
    }
    expect(routes).toEqual([]);
  });
});
