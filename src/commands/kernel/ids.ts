import { sha1 } from '@noble/hashes/legacy.js';

const NAMESPACE = hexToBytes('6ba7b8109dad11d180b400c04fd430c8'); // RFC 4122 URL namespace

/**
 * A name-based (v5) UUID: the same inputs give the same id. Process managers derive command and event
 * ids from the causing event this way, so a replay or a crash never repeats an effect.
 */
export async function deriveId(...parts: readonly (string | number)[]): Promise<string> {
  const name = new TextEncoder().encode(parts.join('\u001f'));
  const input = new Uint8Array(NAMESPACE.length + name.length);
  input.set(NAMESPACE);
  input.set(name, NAMESPACE.length);
  // Synchronous: Web Crypto's digest would queue on Node's thread pool behind argon2 hashes.
  const hash = sha1(input).slice(0, 16);
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = [...hash].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((b) => Number.parseInt(b, 16)));
}
