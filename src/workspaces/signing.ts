import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/** The headers a signed agent request carries (besides its body). */
export const SIGNATURE_HEADERS = {
  timestamp: 'x-warden-timestamp',
  nonce: 'x-warden-nonce',
  signature: 'x-warden-signature',
} as const;

/**
 * Signed in place of the body's digest by a call that streams its body (an upload's bytes): the
 * signature still covers method, path, timestamp and nonce, and the bytes are checked by the
 * SHA-256 declared in the (fully signed) call that created the upload.
 */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface SignedParts {
  method: string;
  /** Path with its query string, as sent (`/v1/containers?label=a`). */
  target: string;
  body: Uint8Array | typeof UNSIGNED_PAYLOAD;
  /** Seconds since the epoch. */
  timestamp: number;
  nonce: string;
}

/** The text that is signed: every part on its own line, the body by its SHA-256. */
export function canonicalRequest(parts: SignedParts): string {
  return [
    'WARDEN-AGENT-HMAC-SHA256',
    parts.method.toUpperCase(),
    parts.target,
    typeof parts.body === 'string' ? parts.body : bytesToHex(sha256(parts.body)),
    String(parts.timestamp),
    parts.nonce,
  ].join('\n');
}

/** HMAC-SHA256 of the canonical request under the agent's key, hex. */
export function signRequest(key: Uint8Array, parts: SignedParts): string {
  return bytesToHex(hmac(sha256, key, utf8ToBytes(canonicalRequest(parts))));
}

/** Constant-time comparison of a presented signature with the expected one. */
export function signatureMatches(key: Uint8Array, parts: SignedParts, presented: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(presented)) return false;
  const expected = hexToBytes(signRequest(key, parts));
  const given = hexToBytes(presented);
  let difference = 0;
  for (let i = 0; i < expected.length; i++) difference |= (expected[i] ?? 0) ^ (given[i] ?? 0);
  return difference === 0;
}

/** The headers for a request signed now with a fresh nonce. */
export function signatureHeaders(
  key: Uint8Array,
  request: { method: string; target: string; body: Uint8Array | typeof UNSIGNED_PAYLOAD },
  now: Date,
): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  const nonce = bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
  return {
    [SIGNATURE_HEADERS.timestamp]: String(timestamp),
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: signRequest(key, { ...request, timestamp, nonce }),
  };
}

/** Agent keys travel as base64url text. */
export function encodeKey(key: Uint8Array): string {
  return btoa(String.fromCharCode(...key))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

export function decodeKey(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
