import * as fs from 'node:fs/promises';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aesKey } from '../../../src/identity/tokens/crypto.ts';
import { issueAccessToken, keyRing, verifyAccessToken } from '../../../src/identity/tokens/index.ts';
import {
  KEY_ENCRYPTION_KEY_FILE,
  type KeyFileSystem,
  loadKeyEncryptionKey,
  parseKeyEncryptionKey,
} from '../../../src/identity/tokens/key-encryption-key.ts';
import type { TestDatabase } from '../../support/databases.ts';
import { databaseKinds } from '../../support/postgres.ts';

const config = { issuer: 'https://warden.test', audience: 'warden-api', ttlSeconds: 900 };
const claims = {
  userId: crypto.randomUUID(),
  tenantId: crypto.randomUUID(),
  role: 'member' as const,
  platformSuperadmin: false,
  familyId: crypto.randomUUID(),
};

describe('key-encryption key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warden-kek-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is generated once into the data folder (mode 0600) when not configured, and reused on the next start', async () => {
    const [first, second] = await Promise.all([
      loadKeyEncryptionKey(undefined, dir),
      loadKeyEncryptionKey(undefined, dir),
    ]);
    const file = join(dir, KEY_ENCRYPTION_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const text = (await readFile(file, 'utf8')).trim();
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await loadKeyEncryptionKey(undefined, dir);
    for (const key of [first, second, again]) expect(key.algorithm).toMatchObject({ name: 'AES-GCM' });
  });

  it('gives two starters the one complete key however their file writes interleave', async () => {
    // A file system whose writes create the file empty, pause, and only then write the content: the
    // window in which the other starter may look. Before the fix (`wx` on the key file itself) the
    // second starter read the empty file and threw; now the key file appears whole or not at all.
    const sameKey = async (a: CryptoKey, b: CryptoKey) => {
      const iv = new Uint8Array(12);
      const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, a, new Uint8Array([1, 2, 3]));
      return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, b, sealed));
    };
    for (let round = 0; round < 40; round++) {
      const roundDir = join(dir, `round-${round}`);
      let created!: () => void;
      const fileCreated = new Promise<void>((resolve) => {
        created = resolve;
      });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slowWrites: KeyFileSystem = {
        ...fs,
        writeFile: (async (file: string, data: string, options: { mode?: number; flag?: string }) => {
          await fs.writeFile(file, '', options);
          created();
          await gate;
          await fs.writeFile(file, data);
        }) as KeyFileSystem['writeFile'],
      };
      const first = loadKeyEncryptionKey(undefined, roundDir, slowWrites);
      await fileCreated;
      // The second starter runs entirely inside the first one's window (odd rounds) or races its end.
      const second = loadKeyEncryptionKey(undefined, roundDir);
      if (round % 2 === 0) await new Promise((resolve) => setTimeout(resolve, round % 5));
      release();
      const [a, b] = await Promise.all([first, second]);
      expect(await sameKey(a, b)).toEqual(new Uint8Array([1, 2, 3]));
      expect(await sameKey(b, await loadKeyEncryptionKey(undefined, roundDir))).toEqual(
        new Uint8Array([1, 2, 3]),
      );
      expect((await fs.readdir(roundDir)).filter((name) => name !== KEY_ENCRYPTION_KEY_FILE)).toEqual([]);
    }
  });

  it('refuses a configured key that is not 32 bytes of base64url', async () => {
    await expect(parseKeyEncryptionKey('c2hvcnQ')).rejects.toThrow(/32 bytes/);
  });
});

for (const kind of databaseKinds) {
  describe(`signing keys across processes (${kind.name})`, () => {
    let t: TestDatabase;
    let now = Date.parse('2026-03-01T12:00:00Z');
    const clock = () => new Date(now);

    beforeAll(async () => {
      t = await kind.fresh();
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('lets another process verify tokens of a freshly rotated key, whose kid it published before the rotation', async () => {
      const kek = await aesKey(crypto.getRandomValues(new Uint8Array(32)));
      const options = {
        db: t.database.db,
        keyEncryptionKey: kek,
        accessTokenTtlSeconds: 900,
        cacheTtlSeconds: 60,
        clock,
      };
      const signer = keyRing(options);
      const verifier = keyRing(options);
      // Two processes starting at once: one active key and one pending key, not two of each.
      await Promise.all([signer.ensure(), verifier.ensure()]);
      const keys = await signer.list();
      expect(keys.map((k) => k.state).sort()).toEqual(['active', 'pending']);

      const old = await issueAccessToken(signer, config, claims, clock());
      expect((await verifyAccessToken(verifier, config, old.token, clock())).ok).toBe(true);

      now += 61_000;
      const publishedBefore = (await verifier.jwks()).keys.map((k) => k.kid);
      const rotation = await signer.rotate();
      const fresh = await issueAccessToken(signer, config, claims, clock());
      expect(decodeProtectedHeader(fresh.token).kid).toBe(rotation.activated);
      // What the verifier served (and a JWKS cache kept) before the rotation already holds the new kid.
      expect(publishedBefore).toContain(rotation.activated);
      expect((await verifyAccessToken(verifier, config, fresh.token, clock())).ok).toBe(true);
      expect((await verifyAccessToken(verifier, config, old.token, clock())).ok).toBe(true);
    });

    it('does not open private keys with another key-encryption key', async () => {
      const other = keyRing({
        db: t.database.db,
        keyEncryptionKey: await aesKey(crypto.getRandomValues(new Uint8Array(32))),
        accessTokenTtlSeconds: 900,
        clock,
      });
      await expect(other.signingKey()).rejects.toThrow();
    });
  });
}
