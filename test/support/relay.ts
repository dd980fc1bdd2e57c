import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';

/**
 * A bare HTTP relay on a loopback port: each request goes on to `target` as it came (method, path,
 * headers, streamed body) and its answer comes back the same way; nothing else. `seen` is told of each
 * request first (a test that lists what reaches the target).
 */
export async function startRelay(target: string, seen?: (incoming: IncomingMessage) => void) {
  const host = new URL(target).host;
  const server = createServer((incoming, outgoing) => {
    seen?.(incoming);
    const onward = request(new URL(incoming.url ?? '/', target), {
      method: incoming.method,
      headers: { ...incoming.headers, host },
    });
    onward.once('response', (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      void pipeline(answer, outgoing).catch(() => undefined);
    });
    onward.once('error', () => outgoing.destroy());
    void pipeline(incoming, onward).catch(() => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
