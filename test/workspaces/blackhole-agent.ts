import { createServer, type Socket } from 'node:net';

export interface BlackholeAgent {
  url: string;
  /** Requests it received and never answered, by request line (e.g. `GET /v1/system`). */
  silent(): string[];
  /** When each unanswered request arrived (`performance.now()`), in order. */
  askedAt(): number[];
  close(): Promise<void>;
}

/**
 * A TCP server on 127.0.0.1 that plays an agent which enrols and then hangs: it answers the enrolment
 * call (`POST /v1/enrol`, with a key, then closes the connection) so Warden registers it as it would
 * any agent, and accepts every later connection, reads the request and never answers. A host that
 * accepts and then stalls (blackholed, swapping, its agent wedged) looks like this from Warden.
 */
export async function startBlackholeAgent(): Promise<BlackholeAgent> {
  const held = new Set<Socket>();
  const silent: string[] = [];
  const askedAt: number[] = [];
  const server = createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
    socket.on('error', () => undefined);
    let text = '';
    let seen = false;
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (seen || !text.includes('\r\n\r\n')) return;
      seen = true;
      const line = text.slice(0, text.indexOf('\r\n')).replace(/ HTTP\/1\.1$/, '');
      if (line === 'POST /v1/enrol') {
        const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
        const body = JSON.stringify({ agent_key: key, enrolled_at: new Date().toISOString() });
        socket.end(
          `HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
        return;
      }
      silent.push(line);
      askedAt.push(performance.now());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the blackhole has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    silent: () => [...silent],
    askedAt: () => [...askedAt],
    async close() {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
