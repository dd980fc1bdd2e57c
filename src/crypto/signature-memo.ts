import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * Tokens whose signature this process has checked and found good, each with the key that checked it.
 * A resource server introspects the same access token on every call it serves, and an API client sends
 * the same token for its whole life; Ed25519 verification is deterministic, so the same bytes under the
 * same key object give the same answer every time. Only the signature is remembered: the caller still
 * resolves the key from the header on every call (a retired, unpublished key or another tenant's fails
 * before the memo is asked) and checks every claim against the current time. Bounded, least recently
 * used first; only good signatures enter, so a flood of forged tokens costs a verification each, as
 * before, and cannot evict anything it did not mint.
 */
export interface SignatureMemo<Decoded = unknown> {
  /** Whether `token` was found good under this very key object. */
  holds(token: string, key: KeyObject): boolean;
  /**
   * The token as it was decoded when its signature was found good (header and claims are the bytes'
   * own, so they never differ); undefined for any other token. Only saves the decoding: whoever takes
   * it still checks the key (`holds`), the claims against now, and the rest.
   */
  decoded(token: string): Decoded | undefined;
  /** Remembers that `token`'s signature is good under `key`, with the token as it was decoded. */
  add(token: string, key: KeyObject, decoded: Decoded): void;
}

export function signatureMemo<Decoded extends {}>(max: number): SignatureMemo<Decoded> {
  const good = new LRUCache<string, { key: KeyObject; decoded: Decoded }>({ max });
  return {
    holds: (token, key) => good.get(token)?.key === key,
    decoded: (token) => good.get(token)?.decoded,
    add: (token, key, decoded) => void good.set(token, { key, decoded }),
  };
}
