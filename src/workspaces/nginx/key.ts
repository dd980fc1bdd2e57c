import { sha256Hex } from '../../crypto/digest.ts';
import { base64url } from '../../identity/index.ts';

/** The header the workspace nginx sends its key in, on the entry it forwards to Warden. */
export const NGINX_KEY_HEADER = 'x-warden-nginx-key';

/** The shape of the key: 256 bits in base64url, nothing nginx would read as syntax. */
export const NGINX_KEY_SHAPE = /^[A-Za-z0-9_-]{43}$/;

const LABEL = new TextEncoder().encode('warden workspace nginx key v1');

/**
 * The key the rendered nginx sends Warden with a browser's entry (see `renderRoutes`), so Warden
 * believes the browser address nginx writes there and no one else's: derived from the
 * key-encryption key, so every process of a cluster renders and expects the same key with no second
 * secret to configure. The AES block of a nonce made from this label alone (no other derivation
 * and, but for a 2^-96 chance, no random-nonce seal uses it: `keyedUserIdsFrom`'s nonce is zero),
 * then HMAC over the label, so what nginx's file holds reveals nothing of the key-encryption key.
 */
export async function workspaceNginxKey(keyEncryptionKey: CryptoKey): Promise<string> {
  const iv = new Uint8Array(await crypto.subtle.digest('SHA-256', LABEL)).slice(0, 12);
  const block = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, keyEncryptionKey, new Uint8Array(32));
  const material = await crypto.subtle.importKey(
    'raw',
    new Uint8Array(block).slice(0, 32),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return base64url(new Uint8Array(await crypto.subtle.sign('HMAC', material, LABEL)));
}

/** Whether `sent` is the key, compared by digest (how much of it matched takes no time to tell). */
export function isWorkspaceNginxKey(sent: string | undefined, key: string): boolean {
  return sent !== undefined && sha256Hex(sent) === sha256Hex(key);
}
