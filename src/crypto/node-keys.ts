import { KeyObject } from 'node:crypto';

const converted = new WeakMap<CryptoKey, KeyObject | null>();

/**
 * The `node:crypto` form of a Web Crypto key of the named algorithm, made once per key; `null` for
 * another algorithm or where the runtime cannot convert it (`KeyObject.from`), so the caller keeps to
 * Web Crypto there. Node's own primitives run on the calling thread without Web Crypto's job and
 * promise machinery: several times cheaper for the short inputs of tokens and sealed fields.
 */
export function nodeKeyOf(key: CryptoKey, algorithm: 'Ed25519' | 'AES-GCM'): KeyObject | null {
  let found = converted.get(key);
  if (found === undefined) {
    try {
      found = key.algorithm.name === algorithm ? KeyObject.from(key) : null;
    } catch {
      found = null;
    }
    converted.set(key, found);
  }
  return found;
}
