import http from 'node:http';

/**
 * The measured loops' HTTP client: `node:http` over keep-alive sockets. Node 20's `fetch` (undici)
 * cost the client 250–560 µs of CPU per request here, against 73–108 µs for `node:http`, measured
 * against a bare `node:http` server answering `/health`. On two shared cores whatever the client
 * spends is taken from the server it measures, so a `fetch` loop measured mostly itself: `/health`
 * through Warden ran at the rate the client could send. Like wrk or autocannon, the load generator
 * must be the cheap side. Setup calls keep using `fetch`.
 */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export type Send = (path: string, options?: SendOptions) => Promise<Reply>;

/** A client for one origin; `sockets` bounds the keep-alive connections (one per request in flight). */
export function loopbackClient(base: string, sockets = 64): Send & { close(): void } {
  const origin = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const send: Send = (path, options = {}) =>
    new Promise<Reply>((resolve, reject) => {
      const headers: Record<string, string | number> = { ...options.headers };
      if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
      const request = http.request(
        {
          agent,
          host: origin.hostname,
          port: origin.port,
          path,
          method: options.method ?? 'GET',
          headers,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(options.body);
    });
  return Object.assign(send, { close: () => agent.destroy() });
}
