import { createServer, type Server, type Socket } from 'node:net';
import { expect } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { startToolJobs, type ToolJobs } from '../../src/processes/tools/index.ts';
import type { LooseJson, SignedInUser, TestApp } from '../support/app.ts';

/** A TCP server on 127.0.0.1 that the test owns: it accepts and says nothing (a TLS handshake hangs on it). */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** This test's tool worker, as `warden worker` runs it, polling fast. */
export function toolWorker(t: TestApp, options: Partial<Parameters<typeof startToolJobs>[0]> = {}): ToolJobs {
  return startToolJobs({
    database: t.database,
    store: t.store,
    owner: `test-${crypto.randomUUID().slice(0, 8)}`,
    logger: createLogger('silent'),
    pollMs: 50,
    cancelPollMs: 200,
    deniedTargets: t.config.WARDEN_TOOL_DENIED_TARGETS,
    ...options,
  });
}

/** Replaces the tenant's tool allowlist as `owner` (an owner or admin of it); expects it taken. */
export async function setTargets(t: TestApp, owner: SignedInUser, targets: readonly string[]): Promise<void> {
  const put = await t.request('/v1/tools/targets', {
    method: 'PUT',
    token: owner.token,
    tenant: owner.tenantSlug,
    json: { targets: [...targets] },
  });
  expect(put.status).toBe(200);
}

/** An owner and an operator of a fresh tenant whose allowlist holds 127.0.0.1. */
export async function toolTenant(t: TestApp, plan: Parameters<TestApp['tenant']>[1] = 'enterprise') {
  const tenant = await t.tenant(undefined, plan);
  const owner = await t.user({ tenant: tenant.slug, role: 'owner' });
  const operator = await t.user({ tenant: tenant.slug, role: 'operator' });
  await setTargets(t, owner, ['127.0.0.1/32']);
  return { tenant, owner, operator };
}

export async function execute(
  t: TestApp,
  user: SignedInUser,
  tool: string,
  parameters: LooseJson,
  extra: LooseJson = {},
): Promise<Response> {
  return t.request(`/v1/tools/${tool}/executions`, {
    token: user.token,
    tenant: user.tenantSlug,
    json: { parameters, ...extra },
  });
}

const FINAL = ['completed', 'failed', 'cancelled', 'timed_out', 'interrupted'];

/** Polls an execution until it is in one of `statuses` (a final status by default). */
export async function waitForStatus(
  t: TestApp,
  user: SignedInUser,
  id: string,
  statuses: readonly string[] = FINAL,
  timeoutMs = 60_000,
): Promise<LooseJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await t.request(`/v1/executions/${id}`, { token: user.token, tenant: user.tenantSlug });
    const body = (await res.json()) as LooseJson;
    if (statuses.includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`execution ${id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP server on 127.0.0.1 that counts the connections it is sent. */
export async function countingServer() {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
