import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { readBoundedBody } from '../../runtime/bounded-body.ts';
import type { AppEnv } from './env.ts';

/**
 * The request body as Node's own stream, when the Node runtime serves the request (`c.env.incoming`)
 * and nothing has started reading the body; undefined elsewhere (Deno, `app.request` in tests). Nothing
 * may ask `c.req.raw` for its body or signal first: on Node that builds the web request (a `Request`
 * whose body stream starts reading at once), which costs more than the small handlers it serves.
 */
export function nodeBody(c: Context<AppEnv>): Readable | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof Readable) || incoming.readableDidRead || incoming.listenerCount('data') > 0) {
    return undefined;
  }
  return incoming;
}

/**
 * The whole body, up to `limit` bytes (`'too_large'` past it, nothing more kept, as `readBoundedBody`).
 * On Node it reads the socket's stream directly: measured on the OAuth endpoints, building the web
 * `Request` and its stream only to read a 100-byte form took about an eighth of the request's CPU.
 */
export async function readRequestBody(c: Context<AppEnv>, limit: number): Promise<Uint8Array | 'too_large'> {
  const incoming = nodeBody(c);
  if (!incoming) return readBoundedBody(c.req.raw.body, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) {
      // The rest is read and dropped while the refusal goes out, and the connection closes after it
      // (a lingering close, as nginx does): destroying the socket now would reset it under the client
      // before it reads the 413. The request timeout bounds a body that never ends.
      incoming.resume();
      const outgoing = (c.env as { outgoing?: { shouldKeepAlive: boolean } }).outgoing;
      if (outgoing) outgoing.shouldKeepAlive = false;
      return 'too_large';
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * Hands a body already read on to whatever reads it next (`c.req.text()`, `c.req.json()` and the
 * validators): Hono's request keeps each body it read as a promise in `bodyCache` (typed there as
 * the value), and derives the other forms from it.
 */
export function keepBodyText(c: Context<AppEnv>, text: string): void {
  (c.req.bodyCache as unknown as { text?: Promise<string> }).text = Promise.resolve(text);
}
