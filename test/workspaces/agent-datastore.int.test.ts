import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentDataStore, agentUploads } from '../../src/workspaces/index.ts';
import { encodeKey } from '../../src/workspaces/signing.ts';

const MB = 1024 * 1024;

describe('a PATCH body on its way to the agent (AgentDataStore)', () => {
  /** What the stand-in agent saw of each append: its framing headers and how many bytes came. */
  const seen: { headers: IncomingHttpHeaders; bytes: number }[] = [];
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
    });
    req.on('end', () => {
      seen.push({ headers: req.headers, bytes });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ offset: bytes }));
    });
  });
  let agent: ReturnType<typeof agentUploads>;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    agent = agentUploads({ url: `http://127.0.0.1:${port}`, key: encodeKey(randomBytes(32)) });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const body = () => Readable.from([randomBytes(MB), randomBytes(MB), randomBytes(MB)]);
  const append = (store: AgentDataStore) => store.write(Readable.from([]), crypto.randomUUID(), 0);

  it('passes the client’s Content-Length on with its bytes, so the agent reads them unchunked', async () => {
    seen.length = 0;
    const offset = await append(new AgentDataStore(agent, undefined, 0, body(), 3 * MB));
    expect(offset).toBe(3 * MB);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers['content-length']).toBe(String(3 * MB));
    expect(seen[0]?.headers['transfer-encoding']).toBeUndefined();
    expect(seen[0]?.bytes).toBe(3 * MB);
  });

  it('chunks the bytes on when the client sent no length (a chunked body)', async () => {
    seen.length = 0;
    const offset = await append(new AgentDataStore(agent, undefined, 0, body()));
    expect(offset).toBe(3 * MB);
    expect(seen[0]?.headers['content-length']).toBeUndefined();
    expect(seen[0]?.headers['transfer-encoding']).toBe('chunked');
  });
});
