import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysCommand } from '../../src/cli/keys.ts';
import { aesKey } from '../../src/identity/tokens/crypto.ts';
import { oauthKeys } from '../../src/oauth/keys.ts';
import { issueOAuthAccessToken, verifyOAuthAccessToken } from '../../src/oauth/tokens.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

describe.each(databaseKinds)('per-tenant issuer keys ($name)', ({ fresh }) => {
  let db: TestDatabase;
  let kek: CryptoKey;
  beforeAll(async () => {
    db = await fresh();
    kek = await aesKey(crypto.getRandomValues(new Uint8Array(32)));
  });
  afterAll(() => db?.dispose());

  it('makes a tenant’s keys on first use and holds only the tenants in use (bounded), whatever exists', async () => {
    const keys = oauthKeys({ db: db.database.db, keyEncryptionKey: kek, cacheMax: 10 });
    const tenants = Array.from({ length: 40 }, () => crypto.randomUUID());
    const config = { audience: 'warden-api', ttlSeconds: 60 };
    const issued = [];
    for (const tenantId of tenants) {
      const claims = {
        tenantId,
        issuer: `https://w.example/t/${tenantId}`,
        subject: tenantId,
        clientId: crypto.randomUUID(),
        scope: ['packages:read'],
      };
      issued.push({ tenantId, ...(await issueOAuthAccessToken(keys, config, claims, new Date())) });
      expect(keys.cachedTenants).toBeLessThanOrEqual(10);
    }
    // The first tenants left the cache long ago; their tokens still verify (keys read back, same kid).
    for (const { tenantId, token } of issued.slice(0, 5)) {
      expect((await verifyOAuthAccessToken(keys, tenantId, token, config, new Date()))?.tenantId).toBe(
        tenantId,
      );
    }
    // A token of one tenant does not verify at another.
    const [a, b] = issued;
    expect(await verifyOAuthAccessToken(keys, b!.tenantId, a!.token, config, new Date())).toBeUndefined();
    expect(keys.cachedTenants).toBeLessThanOrEqual(10);
  });

  it('agrees on one active key per tenant and algorithm when processes race to make it', async () => {
    const tenantId = crypto.randomUUID();
    const processes = Array.from({ length: 4 }, () =>
      oauthKeys({ db: db.database.db, keyEncryptionKey: kek }),
    );
    const signers = await Promise.all(processes.map((p) => p.signer(tenantId, 'EdDSA')));
    expect(new Set(signers.map((s) => s.kid)).size).toBe(1);
    const jwks = await processes[0]!.jwks(tenantId);
    expect(jwks.keys.filter((k) => k.alg === 'EdDSA').map((k) => k.kid)).toEqual([signers[0]!.kid]);
    // Rotation: the new key signs, the old one still verifies until it leaves the JWKS.
    const rotated = await processes[0]!.rotate(tenantId, 'EdDSA', 600);
    expect(rotated.kid).not.toBe(signers[0]!.kid);
    expect(await processes[0]!.verifier(tenantId, signers[0]!.kid)).toBeDefined();
    expect((await processes[0]!.jwks(tenantId)).keys.map((k) => k.kid)).toEqual(
      expect.arrayContaining([signers[0]!.kid, rotated.kid]),
    );
  });

  it('lists and rotates a tenant issuer’s keys from the CLI', async () => {
    const keys = oauthKeys({ db: db.database.db, keyEncryptionKey: kek });
    const tenantId = crypto.randomUUID();
    let out = '';
    const output = {
      write: (text: string) => {
        out += text;
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const deps = {
      keys: { list: async () => [], rotate: async () => ({ activated: '', retired: null, pending: '' }) },
      tenantKeys: { keys, publishForSeconds: 900, tenantId: async () => tenantId },
      output,
    };
    expect(await keysCommand(['list', '--tenant', 'acme'], deps)).toBe(0);
    const before = out.trim().split('\n');
    expect(before.map((l) => l.split(/\s+/)[1]).sort()).toEqual(['EdDSA', 'RS256']);
    out = '';
    expect(await keysCommand(['rotate', '--tenant', 'acme', '--alg', 'RS256'], deps)).toBe(0);
    expect(out).toMatch(/^activated \S+ \(RS256\) for tenant acme/);
    out = '';
    await keysCommand(['list', '--tenant', 'acme'], deps);
    expect(out.trim().split('\n')).toHaveLength(3);
    expect(await keysCommand(['rotate', '--tenant', 'acme', '--alg', 'HS256'], deps)).toBe(2);
  });
});
