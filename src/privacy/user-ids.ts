import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keyedUserIds, type UserIds } from '../commands/identity/index.ts';

const encoder = new TextEncoder();
const LABEL = 'warden user-id key v1';

/**
 * Email-claim ids (and the ids of users registered before email claims) keyed with a secret derived
 * from the key-encryption key: HMAC-SHA-256 over tenant and lowercased email, shaped as an RFC 9562
 * version 8 (custom) UUID. Without the key, the events and an email no longer lead to that email's
 * claim (nor to such a user's id), so an erased history cannot be re-linked by recomputing it. The HMAC key is AES-256-GCM of a fixed label under the key-encryption key (a
 * pseudo-random function of it, deterministic because label and nonce are fixed and nothing else
 * is ever encrypted that way): no second secret to configure, and the same in every process.
 * Changing the key-encryption key changes every keyed id, so every claim is lost with it (as every
 * sealed key already is).
 */
export async function keyedUserIdsFrom(keyEncryptionKey: CryptoKey): Promise<UserIds> {
  const material = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: new Uint8Array(12), additionalData: encoder.encode(LABEL) },
    keyEncryptionKey,
    new Uint8Array(32),
  );
  const key = new Uint8Array(material).slice(0, 32);
  return keyedUserIds(async (tenantId, email) => {
    // Synchronous, as deriveId is: Web Crypto would queue behind argon2 hashes on Node's thread pool.
    const mac = hmac(sha256, key, encoder.encode(`${tenantId}\u001f${email.toLowerCase()}`));
    const bytes = mac.slice(0, 16);
    bytes[6] = (bytes[6]! & 0x0f) | 0x80;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  });
}
