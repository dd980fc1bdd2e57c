import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aesKey, base64url, fromBase64url } from './crypto.ts';

/** File in the data folder holding the generated key-encryption key when none is configured (dev only). */
export const KEY_ENCRYPTION_KEY_FILE = 'key-encryption-key';

/** Parses WARDEN_KEY_ENCRYPTION_KEY: 32 bytes, base64url (43 characters, no padding). */
export async function parseKeyEncryptionKey(text: string): Promise<CryptoKey> {
  const raw = fromBase64url(text.trim());
  if (raw.length !== 32) throw new Error('WARDEN_KEY_ENCRYPTION_KEY must be 32 bytes in base64url');
  return aesKey(raw);
}

/**
 * The key that seals signing keys at rest: the configured one, or else one generated once into
 * `<dataDir>/key-encryption-key` (mode 0600) and reused on later starts. Losing that file loses the
 * private signing keys (a new pair is then needed: rotate twice with force).
 */
export async function loadKeyEncryptionKey(
  configured: string | undefined,
  dataDir: string,
): Promise<CryptoKey> {
  if (configured) return parseKeyEncryptionKey(configured);
  const path = join(dataDir, KEY_ENCRYPTION_KEY_FILE);
  try {
    return await parseKeyEncryptionKey(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const generated = base64url(crypto.getRandomValues(new Uint8Array(32)));
  // `wx`: two processes starting at once must not each write their own key; the loser reads the winner's.
  try {
    await writeFile(path, `${generated}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return parseKeyEncryptionKey(await readFile(path, 'utf8'));
}
