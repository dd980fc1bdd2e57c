import type { UpgradeWebSocket } from 'hono/ws';

/**
 * The few things that differ between Node and Deno: listening for HTTP, upgrading to WebSocket and
 * hearing stop signals. Everything else in Warden uses web standards (fetch, Request/Response, Web
 * Crypto, streams).
 */
export interface HttpServer {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes. */
  close(graceMs: number): Promise<void>;
}

/** `env` carries what the runtime knows of the connection (`incoming` on Node, `remoteAddress` on Deno). */
export type FetchHandler = (request: Request, env?: Record<string, unknown>) => Response | Promise<Response>;

/**
 * What `listen` adds to every request's `env`: the runtime's WebSocket upgrade (`@hono/node-ws` on
 * Node, `hono/deno` on Deno), so a route can answer an `Upgrade: websocket` request without knowing
 * which runtime serves it. Absent when the app is called without a server (`app.request` in tests).
 */
export interface RuntimeEnv {
  upgradeWebSocket?: UpgradeWebSocket;
}

interface DenoLike {
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: (request: Request, info: { remoteAddr: { hostname?: string } }) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void>; finished: Promise<void> };
  addSignalListener(signal: string, handler: () => void): void;
}

const deno = (globalThis as { Deno?: DenoLike }).Deno;
export const runtimeName = deno ? 'deno' : 'node';

export async function listen(
  fetch: FetchHandler,
  options: { port: number; hostname: string },
): Promise<HttpServer> {
  if (deno) {
    const { upgradeWebSocket } = await import('hono/deno');
    const server = deno.serve({ ...options, onListen: () => {} }, (request, info) =>
      fetch(request, { remoteAddress: info.remoteAddr.hostname, upgradeWebSocket }),
    );
    return {
      port: server.addr.port,
      close: (graceMs) => Promise.race([server.shutdown(), delay(graceMs)]),
    };
  }
  const { serve } = await import('@hono/node-server');
  const { createNodeWebSocket } = await import('@hono/node-ws');
  let draining = false;
  // The env object must stay the one the runtime made: @hono/node-ws marks it to pair the upgrade
  // request with its socket.
  const withUpgrade = (env: Record<string, unknown> = {}) => {
    env.upgradeWebSocket = websockets.upgradeWebSocket;
    return env;
  };
  // An upgrade request reaches the app through `app.request`; its URL is rebuilt from the Host
  // header as for any other request (node-ws would say `localhost`, and the tenant can be the host).
  const upgradeApp = {
    request: (url: URL, init: RequestInit, env: Record<string, unknown> & { incoming?: IncomingLike }) => {
      return fetch(new Request(hostUrl(url, env.incoming?.headers.host), init), withUpgrade(env));
    },
  };
  // cast: createNodeWebSocket types `app` as a whole Hono app; it only calls `request`.
  const websockets = createNodeWebSocket({
    app: upgradeApp as unknown as Parameters<typeof createNodeWebSocket>[0]['app'],
  });
  // While draining, every answer closes its connection: a keep-alive client cannot keep the server
  // (and the shutdown) going by sending request after request on a socket it already holds.
  const handler: FetchHandler = async (request, env) => {
    const response = await fetch(request, withUpgrade(env));
    if (!draining) return response;
    const closing = new Response(response.body, response);
    closing.headers.set('connection', 'close');
    return closing;
  };
  return new Promise((resolve) => {
    const server = serve({ fetch: handler, port: options.port, hostname: options.hostname }, (info) => {
      websockets.injectWebSocket(server);
      // cast: serve() types its server as the net.Server union; the HTTP/1 server it returns has these, HTTP/2 lacks them.
      const sockets = server as unknown as {
        closeIdleConnections?: () => void;
        closeAllConnections?: () => void;
      };
      resolve({
        port: info.port,
        close: (graceMs) =>
          new Promise<void>((done) => {
            draining = true;
            // An open WebSocket is a connection the HTTP server no longer tracks: say goodbye (1001).
            for (const client of websockets.wss.clients) client.close(1001, 'server shutting down');
            // Keep-alive sockets with no request in flight would hold close() open: close them now and
            // as each in-flight request ends.
            const idle = setInterval(() => sockets.closeIdleConnections?.(), 50);
            const timer = setTimeout(() => {
              clearInterval(idle);
              sockets.closeAllConnections?.();
              done();
            }, graceMs);
            server.close(() => {
              clearTimeout(timer);
              clearInterval(idle);
              done();
            });
            sockets.closeIdleConnections?.();
          }),
      });
    });
  });
}

/**
 * The first SIGTERM or SIGINT, by name. A long-running command takes it before it starts anything:
 * from then on a stop signal is the command's to handle (a clean stop), never the default (death).
 * Taken only once the command says it listens, a signal sent the moment that line is read (as a
 * supervisor or test does) could land between the write and the handler: a test saw the server die
 * of its SIGTERM that way, without draining.
 */
export function stopSignal(): Promise<string> {
  return new Promise((resolve) => onStopSignal(resolve));
}

/** Calls `handler` once on SIGTERM or SIGINT. */
export function onStopSignal(handler: (signal: string) => void): void {
  let called = false;
  const once = (signal: string) => () => {
    if (called) return;
    called = true;
    handler(signal);
  };
  for (const signal of ['SIGTERM', 'SIGINT']) {
    if (deno) deno.addSignalListener(signal, once(signal));
    else process.once(signal, once(signal));
  }
}

/** `url` at the request's Host; a Host that makes no URL leaves it as it was (the app then answers 404). */
function hostUrl(url: URL, host: string | undefined): URL {
  if (!host) return url;
  try {
    return new URL(`${url.pathname}${url.search}`, `http://${host}`);
  } catch {
    return url;
  }
}

interface IncomingLike {
  headers: { host?: string };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
