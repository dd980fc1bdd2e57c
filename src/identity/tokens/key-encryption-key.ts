import * as fs from 'node:fs/promises';
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

/** The file operations the generated key needs (tests pass a slowed copy to force interleavings). */
export type KeyFileSystem = Pick<typeof fs, 'readFile' | 'writeFile' | 'link' | 'unlink' | 'mkdir'>;

/**
 * The key that seals signing keys at rest: the configured one, or else one generated once into
 * `<dataDir>/key-encryption-key` (mode 0600) and reused on later starts. Losing that file loses the
 * private signing keys (a new pair is then needed: rotate twice with force).
 *
 * Several processes may start at once (`serve` beside `worker`): each writes its candidate to a file
 * of its own and `link`s it into place. A link is atomic and fails with `EEXIST` when the name is
 * taken, so the key file, once it exists, is always complete, and every starter reads the one winner.
 */
export async function loadKeyEncryptionKey(
  configured: string | undefined,
  dataDir: string,
  files: KeyFileSystem = fs,
): Promise<CryptoKey> {
  if (configured) return parseKeyEncryptionKey(configured);
  const path = join(dataDir, KEY_ENCRYPTION_KEY_FILE);
  try {
    return await parseKeyEncryptionKey(await files.readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await files.mkdir(dataDir, { recursive: true });
  const candidate = join(dataDir, `.${KEY_ENCRYPTION_KEY_FILE}.${crypto.randomUUID()}`);
  await files.writeFile(candidate, `${base64url(crypto.getRandomValues(new Uint8Array(32)))}\n`, {
    mode: 0o600,
    flag: 'wx',
  });
  try {
    await files.link(candidate, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await files.unlink(candidate).catch(() => undefined);
  }
  return parseKeyEncryptionKey(await files.readFile(path, 'utf8'));
}
