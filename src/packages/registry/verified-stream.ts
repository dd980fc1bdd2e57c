import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { RegistryError } from './errors.ts';
import { toBase64 } from './integrity.ts';

const hashes = { sha512, sha384, sha256, sha1 } as const;
type Algorithm = keyof typeof hashes;
const strength: readonly Algorithm[] = ['sha512', 'sha384', 'sha256', 'sha1'];

/**
 * Passes `body` through while hashing it, and ends it with an error unless its bytes match `sri`
 * (the strongest algorithm listed decides, as in ssri). The last chunk is held back until the digest
 * is known, so a client never receives every byte of a tarball that turned out to be other bytes: its
 * download ends short and fails. Nothing is buffered but that one chunk. An `sri` naming no known
 * algorithm passes the bytes through unchecked.
 */
export function verifiedStream(body: ReadableStream<Uint8Array>, sri: string): ReadableStream<Uint8Array> {
  const entries = sri
    .trim()
    .split(/\s+/)
    .map((token) => /^(sha512|sha384|sha256|sha1)-([A-Za-z0-9+/]+={0,2})(\?.*)?$/.exec(token))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ algorithm: m[1] as Algorithm, digest: m[2]! }));
  const algorithm = strength.find((a) => entries.some((e) => e.algorithm === a));
  if (!algorithm) return body;
  const hash = hashes[algorithm].create();
  let held: Uint8Array | undefined;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (held) controller.enqueue(held);
        hash.update(chunk);
        held = chunk;
      },
      flush(controller) {
        const actual = toBase64(hash.digest());
        if (!entries.some((e) => e.algorithm === algorithm && e.digest === actual)) {
          controller.error(new RegistryError('integrity_mismatch', 'the tarball is not the bytes recorded'));
          return;
        }
        if (held) controller.enqueue(held);
      },
    }),
  );
}
