/**
 * The few things that differ between Node and Deno: listening for HTTP and hearing stop signals.
 * Everything else in Warden uses web standards (fetch, Request/Response, Web Crypto, streams).
 */
export interface HttpServer {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes. */
  close(graceMs: number): Promise<void>;
}

/** `env` carries what the runtime knows of the connection (`incoming` on Node, `remoteAddress` on Deno). */
export type FetchHandler = (request: Request, env?: Record<string, unknown>) => Response | Promise<Response>;

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
    const server = deno.serve({ ...options, onListen: () => {} }, (request, info) =>
      fetch(request, { remoteAddress: info.remoteAddr.hostname }),
    );
    return {
      port: server.addr.port,
      close: (graceMs) => Promise.race([server.shutdown(), delay(graceMs)]),
    };
  }
  const { serve } = await import('@hono/node-server');
  let draining = false;
  // While draining, every answer closes its connection: a keep-alive client cannot keep the server
  // (and the shutdown) going by sending request after request on a socket it already holds.
  const handler: FetchHandler = async (request, env) => {
    const response = await fetch(request, env);
    if (!draining) return response;
    const closing = new Response(response.body, response);
    closing.headers.set('connection', 'close');
    return closing;
  };
  return new Promise((resolve) => {
    const server = serve({ fetch: handler, port: options.port, hostname: options.hostname }, (info) => {
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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
