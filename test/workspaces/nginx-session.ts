import { request } from 'node:http';
import { expect } from 'vitest';
import { changeWorkspace, requestWorkspace } from '../../src/commands/workspaces/index.ts';
import type { SignedInUser, TestApp } from '../support/app.ts';
import type { Nginx } from '../support/docker.ts';

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A request through nginx with the Host, method and headers of our choosing (fetch does not let one
 * set Host, nor Sec-Fetch-* headers). `from`: the loopback address the request leaves from (any of
 * 127.0.0.0/8), so the browser's address differs from the one nginx reaches Warden from.
 */
export function throughNginx(
  port: number,
  options: {
    host?: string;
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    from?: string;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        // A connection of its own: a kept-alive one may be closed under it by a reload (socket hang up).
        agent: false,
        ...(options.from ? { localAddress: options.from } : {}),
        headers: { ...(options.host ? { host: options.host } : {}), ...options.headers },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Polls until `ok` holds (a reload closes keep-alive connections: a request caught in one is retried). */
export async function eventually<T>(
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const attempt = () => probe().catch(() => undefined);
  let last = await attempt();
  while ((last === undefined || !ok(last)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await attempt();
  }
  if (last === undefined) throw new Error('nginx never answered');
  return last;
}

/** A one-time link into the user's workspace (`POST /v1/workspaces/{id}/sessions`). */
export async function workspaceTicket(t: TestApp, user: SignedInUser, workspaceId: string) {
  const res = await t.request(`/v1/workspaces/${workspaceId}/sessions`, {
    token: user.token,
    tenant: user.tenantSlug,
    method: 'POST',
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { ticket: string; path: string; host: string; host_path: string };
}

/**
 * Enters the user's workspace through nginx as a browser does: waits until nginx routes it (401
 * without a session), asks Warden for a ticket, follows the link (303 with the cookie); the Cookie
 * header to send from then on. `host`: by `<user>.<domain>` instead of `/u/<user>/`.
 */
export async function enterWorkspace(
  t: TestApp,
  nginx: Pick<Nginx, 'port' | 'settled'>,
  user: SignedInUser,
  workspaceId: string,
  host?: string,
): Promise<string> {
  const home = host ? '/' : `/u/${user.userId}/`;
  await eventually(
    () => throughNginx(nginx.port, { path: home, ...(host ? { host } : {}) }),
    (r) => r.status === 401,
  );
  // A worker has the route; until the old one takes its QUIT, it may still answer a new connection
  // from the old routes (404): a CI run saw the session's first request answered so.
  await nginx.settled();
  const link = await workspaceTicket(t, user, workspaceId);
  const entered = await throughNginx(nginx.port, {
    path: host ? link.host_path : link.path,
    ...(host ? { host } : {}),
  });
  expect(entered.status, entered.body).toBe(303);
  expect(entered.headers.location).toBe(home);
  const cookie = String(entered.headers['set-cookie'] ?? '');
  expect(cookie).toContain(`Path=${home};`);
  expect(cookie).toContain('HttpOnly');
  expect(cookie).toContain('SameSite=Lax');
  expect(cookie).not.toMatch(/Domain=/i);
  return cookie.split(';')[0] ?? '';
}

/**
 * A ready workspace of `user`, made through the workspace's commands as provisioning issues them
 * (placed, container created and started, route published to nowhere: only its entry is used).
 */
export async function readyWorkspace(
  t: TestApp,
  user: SignedInUser,
  clock: () => Date = () => new Date(),
): Promise<string> {
  const context = { metadata: { tenantId: user.tenantId, actorId: user.userId } };
  const workspaceId = crypto.randomUUID();
  const at = () => clock().toISOString();
  await requestWorkspace(
    t.store,
    {
      workspaceId,
      tenantId: user.tenantId,
      userId: user.userId,
      image: 'example/editor:1',
      resources: { cpus: 0.5, memoryMb: 64 },
      agentId: null,
      ports: [8080],
      at: at(),
      by: user.userId,
      limit: null,
    },
    context,
  );
  for (const command of [
    { type: 'PlaceWorkspace', agentId: crypto.randomUUID(), at: at() },
    {
      type: 'RecordContainerCreated',
      containerName: `warden-ws-${workspaceId}`,
      containerId: 'c0ffee',
      at: at(),
    },
    { type: 'RecordContainerStarted', at: at() },
    { type: 'PublishRoute', upstream: '127.0.0.1:9', at: at() },
    { type: 'MarkReady', at: at() },
  ] as const) {
    await changeWorkspace(t.store, user.tenantId, workspaceId, command, context);
  }
  return workspaceId;
}
