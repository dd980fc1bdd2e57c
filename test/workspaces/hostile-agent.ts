import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

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
