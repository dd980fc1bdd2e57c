import { type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { type Dockerd, startDockerd } from '../support/docker.ts';
import { type RunningAgent, registerAgentViaApi, startAgent } from './agent-support.ts';

/** What the upload tests run against: see {@link startUploadHost}. */
export interface UploadHost {
  t: TestApp;
  daemon: Dockerd;
  agent: RunningAgent;
  server: Awaited<ReturnType<TestApp['listening']>>;
  tenantId: string;
  admin: SignedInUser;
  operator: SignedInUser;
  agentId: string;
  /** What stands between Warden and the agent, when `via` put something there. */
  front?: { base: string; close(): Promise<void> };
}

/**
 * A listening Warden on PGlite (with `env`), a real agent on a dockerd of its own, and a tenant whose
 * admin registers the agent (named `name`, a small capacity) for its operator to upload to. `via`
 * puts something in front of the agent (a relay that writes down each call): Warden reaches the agent
 * through it. Stop it with {@link stopUploadHost}.
 */
export async function startUploadHost(options: {
  name: string;
  env?: Record<string, string>;
  via?: (agentUrl: string) => Promise<{ base: string; close(): Promise<void> }>;
}): Promise<UploadHost> {
  // Filled as it starts, so a failure part-way stops what had started.
  const made: Partial<UploadHost> = {};
  try {
    made.daemon = await startDockerd();
    const [t, agent] = await Promise.all([
      testApp(freshPGlite, options.env ? { env: options.env } : {}),
      startAgent(made.daemon),
    ]);
    Object.assign(made, { t, agent });
    const front = await options.via?.(agent.url);
    if (front) made.front = front;
    made.server = await t.listening();
    const tenant = await t.tenant();
    made.tenantId = tenant.id;
    made.admin = await t.user({ tenant: tenant.slug, role: 'admin' });
    made.operator = await t.user({ tenant: tenant.slug, role: 'operator' });
    const small = { cpus: 2, memory_mb: 1024, workspaces: 2 };
    const reached = { url: front?.base ?? agent.url, token: agent.token };
    made.agentId = (
      await registerAgentViaApi(t, made.admin, reached, { name: options.name, capacity: small })
    ).id;
    return made as UploadHost;
  } catch (error) {
    await stopUploadHost(made);
    throw error;
  }
}

/** Stops what {@link startUploadHost} started, in reverse order; what never started is skipped. */
export async function stopUploadHost(host: Partial<UploadHost> | undefined): Promise<void> {
  await host?.server?.close();
  await host?.front?.close();
  await host?.agent?.dispose();
  await host?.daemon?.stop();
  await host?.t?.dispose();
}
