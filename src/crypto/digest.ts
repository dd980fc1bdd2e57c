import { sha256 as sha256Bytes } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * SHA-256 of a short text, hex, computed synchronously. Web Crypto's `digest` runs on the libuv
 * thread pool in Node, where it queues behind argon2 hashes: under login load a 40 µs digest waited
 * 10–40 ms (measured), several times per login. These digests are of short inputs, so they are
 * cheaper on the calling thread.
 */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256Bytes(utf8ToBytes(text)));
}

/** SHA-256 of a short text as bytes (synchronous, as `sha256Hex`). */
export function sha256Of(text: string): Uint8Array {
  return sha256Bytes(utf8ToBytes(text));
}
