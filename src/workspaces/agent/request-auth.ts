import type { MiddlewareHandler } from 'hono';
import { SIGNATURE_HEADERS, signatureMatches, UNSIGNED_PAYLOAD } from '../signing.ts';

/** Nonces seen within the skew window; a second use of one is a replay. */
export class NonceLedger {
  readonly #seen = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /** Records the nonce; false when it was already recorded and has not yet aged out. */
  remember(nonce: string, nowMs: number): boolean {
    if (this.#seen.size > 10_000) {
      for (const [old, expires] of this.#seen) if (expires <= nowMs) this.#seen.delete(old);
    }
    const expires = this.#seen.get(nonce);
    if (expires !== undefined && expires > nowMs) return false;
    this.#seen.set(nonce, nowMs + this.windowMs);
    return true;
  }
}

export interface RequestAuthOptions {
  key: () => Uint8Array | undefined;
  clock: () => Date;
  maxSkewSeconds: number;
  nonces: NonceLedger;
  /**
   * Requests whose body streams (an upload's bytes): signed over `UNSIGNED-PAYLOAD` instead of the
   * body's digest, and the body is left unread for the handler.
   */
  streamsBody?: (method: string, pathname: string) => boolean;
}

function refuse(reason: string, detail: string): Response {
  return new Response(
    JSON.stringify({
      type: `https://warden.dev/problems/agent-${reason}`,
      title: 'Unauthorized',
      status: 401,
      detail,
    }),
    { status: 401, headers: { 'content-type': 'application/problem+json' } },
  );
}

/**
 * Refuses (401, before any handler runs) a request that is not signed with the agent's key over its
 * method, path, body digest, timestamp and nonce; whose timestamp is further than the allowed skew
 * from the agent's clock; or whose nonce was already used. Nonces are recorded only for correctly
 * signed requests, so a forger cannot spend a real client's nonce.
 */
export function requireSignature(options: RequestAuthOptions): MiddlewareHandler {
  return async (c, next) => {
    const key = options.key();
    if (!key) return refuse('not-enrolled', 'the agent is not enrolled yet');
    const timestampText = c.req.header(SIGNATURE_HEADERS.timestamp) ?? '';
    const nonce = c.req.header(SIGNATURE_HEADERS.nonce) ?? '';
    const signature = c.req.header(SIGNATURE_HEADERS.signature) ?? '';
    if (!/^\d{1,12}$/.test(timestampText) || !/^[0-9a-f]{16,64}$/.test(nonce) || signature === '') {
      return refuse('unsigned', 'the request is not signed');
    }
    const timestamp = Number(timestampText);
    const nowMs = options.clock().getTime();
    if (Math.abs(nowMs / 1000 - timestamp) > options.maxSkewSeconds) {
      return refuse(
        'stale',
        `the request's timestamp is more than ${options.maxSkewSeconds} s from the agent's clock`,
      );
    }
    const url = new URL(c.req.url);
    const body: Uint8Array | typeof UNSIGNED_PAYLOAD = options.streamsBody?.(c.req.method, url.pathname)
      ? UNSIGNED_PAYLOAD
      : new Uint8Array(await c.req.arrayBuffer());
    const parts = { method: c.req.method, target: url.pathname + url.search, body, timestamp, nonce };
    if (!signatureMatches(key, parts, signature))
      return refuse('bad-signature', 'the signature does not match');
    if (!options.nonces.remember(nonce, nowMs)) return refuse('replayed', 'the nonce was already used');
    await next();
    return undefined;
  };
}
