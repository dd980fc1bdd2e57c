import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { expect } from 'vitest';
import type { SignedInUser, TestApp } from '../support/app.ts';
import { registerAgentViaApi } from './agent-support.ts';

/** What a fake agent answers; each read per call, so a test can change it between calls. */
export interface HostileAnswers {
  /** The published port its containers report (`host_ip`, `host_port`), as Docker would. */
  port: () => { host_ip: string; host_port: number };
  /** Given, the whole `ports` answer (of a start and of `GET …/ports`), whatever its shape. */
  ports?: () => unknown;
  /** The body of `GET /v1/system`. */
  system: () => unknown;
  /** While true, every container call answers 503 (an agent that never does its work). */
  failing?: () => boolean;
}

export interface HostileAgent {
  url: string;
  close(): Promise<void>;
}

/**
 * An agent a tenant's admin runs and registers (agents are the tenant's): it enrols like any agent
 * and answers every call Warden makes, with whatever its owner wants it to say. It checks no
 * signature: it is not the real agent, only what Warden hears from one.
 */
export async function startHostileAgent(answers: HostileAnswers): Promise<HostileAgent> {
  const container = (name: string) => ({
    id: `id-${name}`,
    name,
    image: 'example/editor:1',
    state: 'running',
    running: true,
    labels: {},
    ports: answers.ports ? answers.ports() : [{ container_port: 8080, ...answers.port() }],
    created_at: new Date().toISOString(),
  });
  const reply = (res: ServerResponse, status: number, body?: unknown) => {
    if (body === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://agent').pathname;
      const name = decodeURIComponent(path.split('/')[3] ?? '');
      if (req.method === 'POST' && path === '/v1/enrol') {
        const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
        return reply(res, 201, { agent_key: key, enrolled_at: new Date().toISOString() });
      }
      if (req.method === 'GET' && path === '/v1/health') {
        return reply(res, 200, { status: 'ok', docker: 'up', version: '1', time: new Date().toISOString() });
      }
      if (req.method === 'GET' && path === '/v1/system') return reply(res, 200, answers.system());
      if (req.method === 'GET' && path.startsWith('/v1/images/')) {
        return reply(res, 200, { ref: name, id: 'sha256:0', tags: [name] });
      }
      if (path.startsWith('/v1/containers') && answers.failing?.()) {
        return reply(res, 503, { type: 'unavailable', title: 'Service Unavailable', status: 503 });
      }
      if (req.method === 'POST' && path === '/v1/containers') {
        return reply(res, 201, { id: 'id', name: 'container', created: true });
      }
      if (req.method === 'POST' && /^\/v1\/containers\/[^/]+\/(start|stop)$/.test(path)) {
        return reply(res, 200, container(name));
      }
      if (req.method === 'GET' && /^\/v1\/containers\/[^/]+\/ports$/.test(path)) {
        return reply(res, 200, container(name).ports);
      }
      if (req.method === 'DELETE' && path.startsWith('/v1/containers/')) return reply(res, 204);
      return reply(res, 404, { type: 'not-found', title: 'Not Found', status: 404 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the fake agent has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Statistics an honest agent answers. */
export const saneStats = {
  cpu: { cores: 4, load1: 0.5 },
  memory: { total_bytes: 8_000_000_000, free_bytes: 4_000_000_000 },
  disk: { total_bytes: 100_000_000_000, free_bytes: 50_000_000_000 },
  containers: { total: 1, running: 1, images: 1 },
};

/** A workspace as `GET /v1/workspaces/{id}` answers it (what these tests read of it). */
export interface WorkspaceBody {
  id: string;
  status: string;
  failure: { step: string; reason: string } | null;
}

/** Registers `agent` in the admin's tenant and waits for the agents' read model to show it: its id. */
export async function registerAgent(t: TestApp, admin: SignedInUser, agent: HostileAgent): Promise<string> {
  const enrolment = { url: agent.url, token: 'enrolment-token-of-the-tenant' };
  return (
    await registerAgentViaApi(t, admin, enrolment, { capacity: { cpus: 8, memory_mb: 8192, workspaces: 10 } })
  ).id;
}

/** Asks for a workspace for `userId` (as the admin): its id. */
export async function requestWorkspace(t: TestApp, admin: SignedInUser, userId: string): Promise<string> {
  const answer = await t.request('/v1/workspaces', {
    token: admin.token,
    tenant: admin.tenantSlug,
    json: { user_id: userId, image: 'example/editor:1', resources: { cpus: 0.5, memory_mb: 64 } },
  });
  expect(answer.status).toBe(202);
  return ((await answer.json()) as WorkspaceBody).id;
}

/** Asks for a workspace for `userId` and waits until it is ready or failed, or `timeoutMs` passed. */
export async function provisionWorkspace(
  t: TestApp,
  admin: SignedInUser,
  userId: string,
  timeoutMs = 30_000,
): Promise<WorkspaceBody> {
  return settledWorkspace(t, admin, await requestWorkspace(t, admin, userId), timeoutMs);
}

/** The workspace once it is ready or failed, or as it is when `timeoutMs` passed. */
export async function settledWorkspace(
  t: TestApp,
  admin: SignedInUser,
  id: string,
  timeoutMs: number,
): Promise<WorkspaceBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const read = (await (
      await t.request(`/v1/workspaces/${id}`, { token: admin.token, tenant: admin.tenantSlug })
    ).json()) as WorkspaceBody;
    if (['ready', 'failed'].includes(read.status) || Date.now() > deadline) return read;
    await new Promise((r) => setTimeout(r, 100));
  }
}
