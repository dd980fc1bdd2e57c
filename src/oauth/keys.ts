import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { type Kysely, sql } from 'kysely';
import type { CompactJwt } from '../crypto/eddsa-jwt.ts';
import { type SignatureMemo, signatureMemo } from '../crypto/signature-memo.ts';
import type { Tables } from '../db/tables.ts';
import { open, seal } from '../identity/index.ts';
import { loadingCache } from '../runtime/cache.ts';

/** Algorithms a tenant signs with: EdDSA for access tokens; ID tokens as each client asks (RS256 by default, as OIDC requires). */
export const tenantAlgorithms = ['EdDSA', 'RS256', 'ES256'] as const;
export type TenantAlgorithm = (typeof tenantAlgorithms)[number];

export interface TenantPublicJwk extends JWK {
  kid: string;
  alg: TenantAlgorithm;
  use: 'sig';
}

interface KeyRow {
  kid: string;
  alg: TenantAlgorithm;
  state: 'active' | 'retired';
  public_jwk: TenantPublicJwk | string;
  private_key: string;
  published_until: Date | string | null;
}

/** One tenant's keys as this process holds them: rows read once, keys imported on first use. */
interface TenantKeySet {
  rows: KeyRow[];
  signers: Map<string, Promise<CryptoKey>>;
  verifiers: Map<string, Promise<CryptoKey>>;
  lastMissReload: number;
}

export interface OAuthKeys {
  /** The tenant's active key for `alg`, created on first use (each tenant is its own issuer). */
  signer(tenantId: string, alg: TenantAlgorithm): Promise<{ kid: string; key: CryptoKey }>;
  /** A public key of this tenant by kid (active, or retired and still published); undefined otherwise. */
  verifier(tenantId: string, kid: string): Promise<{ key: CryptoKey; alg: TenantAlgorithm } | undefined>;
  jwks(tenantId: string): Promise<{ keys: TenantPublicJwk[] }>;
  /** The active key of `alg` is retired (published for `publishForSeconds` more) and a new one made. */
  rotate(tenantId: string, alg: TenantAlgorithm, publishForSeconds: number): Promise<{ kid: string }>;
  /** Tenants whose keys this process holds right now (bounded by `cacheMax`). */
  readonly cachedTenants: number;
  /** Access tokens whose signature one of these keys has already found good (see `SignatureMemo`). */
  readonly signatures: SignatureMemo<CompactJwt>;
}

/** Good access-token signatures remembered at once (the least recently presented go first). */
const REMEMBERED_SIGNATURES = 10_000;

const jwkOf = (row: KeyRow): TenantPublicJwk =>
  typeof row.public_jwk === 'string' ? (JSON.parse(row.public_jwk) as TenantPublicJwk) : row.public_jwk;

async function newKey(alg: TenantAlgorithm, keyEncryptionKey: CryptoKey, tenantId: string) {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, options);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const sealed = await seal(
    keyEncryptionKey,
    JSON.stringify(await exportJWK(privateKey)),
    `oauth-key:${tenantId}:${kid}`,
  );
  return { kid, publicJwk: { ...publicJwk, kid, alg, use: 'sig' } as TenantPublicJwk, sealed };
}

/**
 * Per-tenant signing keys in `warden_oauth_keys`, private halves sealed with the key-encryption key
 * (the tenant and kid bound as associated data, so a row copied to another tenant does not open).
 * A tenant's keys are made the first time it signs something and read into a bounded, expiring
 * cache: memory grows with the tenants in use, not with the tenants that exist.
 */
export function oauthKeys(deps: {
  db: Kysely<Tables>;
  keyEncryptionKey: CryptoKey;
  clock?: () => Date;
  /** How long a tenant's key list is reused before it is read again (another process may rotate). */
  cacheTtlSeconds?: number;
  cacheMax?: number;
}): OAuthKeys {
  const { db, keyEncryptionKey } = deps;
  const clock = deps.clock ?? (() => new Date());
  const cache = loadingCache<string, TenantKeySet>({
    max: deps.cacheMax ?? 2000,
    ttlMs: (deps.cacheTtlSeconds ?? 300) * 1000,
    clock,
    load: async (tenantId) => ({
      rows: await read(tenantId),
      signers: new Map(),
      verifiers: new Map(),
      lastMissReload: 0,
    }),
  });

  async function read(tenantId: string): Promise<KeyRow[]> {
    const result = await sql<KeyRow>`
      select kid, alg, state, public_jwk, private_key, published_until from warden_oauth_keys
      where tenant_id = ${tenantId}
        and (state = 'active' or published_until > ${clock().toISOString()}::timestamptz)
      order by created_at`.execute(db);
    return result.rows;
  }

  const keySet = (tenantId: string) => cache.forceFetch(tenantId);

  async function create(tenantId: string, alg: TenantAlgorithm) {
    const key = await newKey(alg, keyEncryptionKey, tenantId);
    // Two processes may both make one: the unique index keeps the first, the other reads it back.
    await sql`
      insert into warden_oauth_keys (tenant_id, kid, alg, state, public_jwk, private_key, created_at)
      values (${tenantId}, ${key.kid}, ${alg}, 'active', ${JSON.stringify(key.publicJwk)}::jsonb, ${key.sealed},
              ${clock().toISOString()}::timestamptz)
      on conflict (tenant_id, alg) where state = 'active' do nothing`.execute(db);
    cache.delete(tenantId);
  }

  const live = (row: KeyRow) =>
    row.state === 'active' || (row.published_until !== null && new Date(row.published_until) > clock());

  return {
    signatures: signatureMemo<CompactJwt>(REMEMBERED_SIGNATURES),

    get cachedTenants() {
      return cache.size;
    },

    async signer(tenantId, alg) {
      let set = await keySet(tenantId);
      let row = set.rows.find((r) => r.state === 'active' && r.alg === alg);
      if (!row) {
        await create(tenantId, alg);
        set = await keySet(tenantId);
        row = set.rows.find((r) => r.state === 'active' && r.alg === alg);
        if (!row) throw new Error(`no ${alg} key for tenant ${tenantId} after creating one`);
      }
      const found = row;
      let key = set.signers.get(found.kid);
      if (!key) {
        key = open(keyEncryptionKey, found.private_key, `oauth-key:${tenantId}:${found.kid}`).then(
          (jwk) => importJWK(JSON.parse(jwk) as JWK, alg) as Promise<CryptoKey>,
        );
        set.signers.set(found.kid, key);
      }
      return { kid: found.kid, key: await key };
    },

    async verifier(tenantId, kid) {
      const set = await keySet(tenantId);
      let row = set.rows.find((r) => r.kid === kid && live(r));
      // An unknown kid may be another process's new key: read again, at most once a second per tenant.
      if (!row && clock().getTime() - set.lastMissReload >= 1000) {
        set.lastMissReload = clock().getTime();
        set.rows = await read(tenantId);
        row = set.rows.find((r) => r.kid === kid);
      }
      if (!row) return undefined;
      let key = set.verifiers.get(kid);
      if (!key) {
        key = importJWK(jwkOf(row), row.alg) as Promise<CryptoKey>;
        set.verifiers.set(kid, key);
      }
      return { key: await key, alg: row.alg };
    },

    async jwks(tenantId) {
      let set = await keySet(tenantId);
      // Discovery promises EdDSA and RS256: publish both before anything is signed with them.
      if (!set.rows.some((r) => r.state === 'active' && r.alg === 'EdDSA')) await create(tenantId, 'EdDSA');
      if (!set.rows.some((r) => r.state === 'active' && r.alg === 'RS256')) await create(tenantId, 'RS256');
      set = await keySet(tenantId);
      return { keys: set.rows.filter(live).map(jwkOf) };
    },

    async rotate(tenantId, alg, publishForSeconds) {
      const until = new Date(clock().getTime() + publishForSeconds * 1000).toISOString();
      await sql`
        update warden_oauth_keys set state = 'retired', published_until = ${until}::timestamptz
        where tenant_id = ${tenantId} and alg = ${alg} and state = 'active'`.execute(db);
      await create(tenantId, alg);
      const set = await keySet(tenantId);
      const row = set.rows.find((r) => r.state === 'active' && r.alg === alg);
      if (!row) throw new Error('rotation left no active key');
      return { kid: row.kid };
    },
  };
}
