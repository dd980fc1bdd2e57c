import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { type Kysely, sql } from 'kysely';
import { record } from '../../commands/kernel/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { open, seal } from './crypto.ts';
import { SIGNING_KEYS_STREAM, SigningKeyRotated } from './events.ts';

/** The one signing algorithm: verification pins it, so `none`, HS256 and RS256 are refused alike. */
export const SIGNING_ALGORITHM = 'EdDSA';

export type KeyState = 'pending' | 'active' | 'retired';

/** A public key as `/.well-known/jwks.json` serves it. */
export interface PublicJwk extends JWK {
  kid: string;
  alg: typeof SIGNING_ALGORITHM;
  use: 'sig';
}

export interface KeyInfo {
  kid: string;
  state: KeyState;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
  /** A retired key leaves the JWKS (and stops verifying) after this. */
  publishedUntil: Date | null;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

export interface KeyRingOptions {
  db: Kysely<Tables>;
  /** AES-256-GCM key that seals private keys at rest (WARDEN_KEY_ENCRYPTION_KEY). */
  keyEncryptionKey: CryptoKey;
  /** Lifetime of access tokens: a retired key stays published until the last token it signed expires. */
  accessTokenTtlSeconds: number;
  /**
   * How long this process reuses what it read (and the JWKS `max-age`). Another process's rotation
   * reaches this one within it; a pending key must have been published at least this long before it
   * becomes active, so no cache meets an unknown kid.
   */
  cacheTtlSeconds?: number;
  /** Where rotations are recorded for the audit trail (`SigningKeyRotated` on `identity.SigningKeys`). */
  store?: EventStore;
  clock?: () => Date;
}

/** Rotation refused: the pending key has not been published long enough for caches to hold it. */
export class KeyRotationTooSoonError extends Error {
  readonly code = 'ERR_KEY_ROTATION_TOO_SOON' as const;
  constructor(readonly retryAfterSeconds: number) {
    super(
      `the pending key has been published too briefly; rotate again in ${retryAfterSeconds} s (or force)`,
    );
    this.name = 'KeyRotationTooSoonError';
  }
}

export interface RotationResult {
  activated: string;
  retired: string | null;
  pending: string;
}

export interface KeyRing {
  /** Makes sure there is an active key and a pending one (first start creates both). Idempotent, safe in parallel. */
  ensure(): Promise<void>;
  /**
   * Rotation: the pending key becomes active, the active one retired (still published and verifying
   * until every token it signed has expired), and a new pending key is published for the next rotation.
   */
  rotate(options?: { force?: boolean; actorId?: string }): Promise<RotationResult>;
  signingKey(): Promise<SigningKey>;
  /** The public key for a kid that is pending, active, or retired and still published; undefined otherwise. */
  verificationKey(kid: string): Promise<CryptoKey | undefined>;
  jwks(): Promise<{ keys: PublicJwk[] }>;
  list(): Promise<KeyInfo[]>;
  readonly cacheTtlSeconds: number;
}

interface KeyRow {
  kid: string;
  state: KeyState;
  public_jwk: PublicJwk | string;
  private_key: string;
  created_at: Date | string;
  activated_at: Date | string | null;
  retired_at: Date | string | null;
  published_until: Date | string | null;
}

const dateOrNull = (value: Date | string | null) => (value === null ? null : new Date(value));
const jwkOf = (row: KeyRow): PublicJwk =>
  typeof row.public_jwk === 'string' ? (JSON.parse(row.public_jwk) as PublicJwk) : row.public_jwk;

/** A fresh Ed25519 key pair, its kid the RFC 7638 thumbprint, its private half sealed for storage. */
async function newKey(keyEncryptionKey: CryptoKey) {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, {
    crv: 'Ed25519',
    extractable: true,
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const sealed = await seal(
    keyEncryptionKey,
    JSON.stringify(await exportJWK(privateKey)),
    `signing-key:${kid}`,
  );
  return { kid, publicJwk: { ...publicJwk, kid, alg: SIGNING_ALGORITHM, use: 'sig' } as PublicJwk, sealed };
}

/**
 * Signing keys stored in `warden_signing_keys`, moving pending → active → retired. Private keys are
 * sealed with the key-encryption key (AES-256-GCM, the kid as associated data) and opened only in
 * memory; they never reach a log line or an event.
 */
export function keyRing(options: KeyRingOptions): KeyRing {
  const { db, keyEncryptionKey } = options;
  const clock = options.clock ?? (() => new Date());
  const cacheTtlSeconds = options.cacheTtlSeconds ?? 300;
  const cacheMs = cacheTtlSeconds * 1000;
  // Tokens signed by a process that has not yet seen the rotation, plus clock skew between hosts.
  const retiredPublishedMs = (options.accessTokenTtlSeconds + cacheTtlSeconds + 60) * 1000;

  let snapshot: { at: number; rows: KeyRow[] } | undefined;
  let signer: { kid: string; key: Promise<CryptoKey> } | undefined;
  const publicKeys = new Map<string, Promise<CryptoKey>>();
  let lastMissReload = 0;

  async function load(): Promise<KeyRow[]> {
    const now = clock();
    const result = await sql<KeyRow>`
      select kid, state, public_jwk, private_key, created_at, activated_at, retired_at, published_until
      from warden_signing_keys
      where state <> 'retired' or published_until > ${now.toISOString()}::timestamptz
      order by created_at`.execute(db);
    snapshot = { at: now.getTime(), rows: result.rows };
    return result.rows;
  }

  // A cached retired key also leaves once its time is up, without waiting for the next read.
  const live = (row: KeyRow) =>
    row.state !== 'retired' || (row.published_until !== null && new Date(row.published_until) > clock());

  async function rows(): Promise<KeyRow[]> {
    if (snapshot && clock().getTime() - snapshot.at < cacheMs) return snapshot.rows.filter(live);
    return load();
  }

  async function insertKey(state: 'active' | 'pending', executor: Kysely<Tables>) {
    const key = await newKey(keyEncryptionKey);
    const at = clock().toISOString();
    await sql`
      insert into warden_signing_keys (kid, state, public_jwk, private_key, created_at, activated_at)
      values (${key.kid}, ${state}, ${JSON.stringify(key.publicJwk)}::jsonb, ${key.sealed}, ${at}::timestamptz,
              ${state === 'active' ? at : null}::timestamptz)
      on conflict (state) where state in ('active', 'pending') do nothing`.execute(executor);
    return key.kid;
  }

  const ring: KeyRing = {
    cacheTtlSeconds,

    async ensure() {
      const current = await sql<{ state: KeyState }>`
        select state from warden_signing_keys where state in ('active', 'pending')`.execute(db);
      const states = new Set(current.rows.map((r) => r.state));
      // The very first key signs at once: no cache can hold a kid yet, so none can miss it.
      if (!states.has('active')) await insertKey('active', db);
      if (!states.has('pending')) await insertKey('pending', db);
      snapshot = undefined;
    },

    async rotate(rotateOptions = {}) {
      const result = await db.transaction().execute(async (trx) => {
        const now = clock();
        const locked = await sql<{ kid: string; state: KeyState; created_at: Date | string }>`
          select kid, state, created_at from warden_signing_keys
          where state in ('active', 'pending') order by state for update`.execute(trx);
        const pending = locked.rows.find((r) => r.state === 'pending');
        const active = locked.rows.find((r) => r.state === 'active');
        if (!pending) throw new Error('no pending signing key: run ensure() first');
        const publishedMs = now.getTime() - new Date(pending.created_at).getTime();
        if (!rotateOptions.force && publishedMs < cacheMs) {
          throw new KeyRotationTooSoonError(Math.ceil((cacheMs - publishedMs) / 1000));
        }
        const at = now.toISOString();
        if (active) {
          await sql`
            update warden_signing_keys set state = 'retired', retired_at = ${at}::timestamptz,
              published_until = ${new Date(now.getTime() + retiredPublishedMs).toISOString()}::timestamptz
            where kid = ${active.kid}`.execute(trx);
        }
        await sql`
          update warden_signing_keys set state = 'active', activated_at = ${at}::timestamptz
          where kid = ${pending.kid}`.execute(trx);
        const next = await insertKey('pending', trx);
        return { activated: pending.kid, retired: active?.kid ?? null, pending: next };
      });
      snapshot = undefined;
      if (options.store) {
        await record(
          options.store,
          SIGNING_KEYS_STREAM,
          { type: 'SigningKeyRotated', data: { ...result, rotatedAt: clock().toISOString() } },
          { SigningKeyRotated },
          { metadata: rotateOptions.actorId ? { actorId: rotateOptions.actorId } : {} },
        );
      }
      return result;
    },

    async signingKey() {
      let active = (await rows()).find((r) => r.state === 'active');
      if (!active) active = (await load()).find((r) => r.state === 'active');
      if (!active) throw new Error('no active signing key: run ensure() first');
      if (signer?.kid !== active.kid) {
        const row = active;
        signer = {
          kid: row.kid,
          key: open(keyEncryptionKey, row.private_key, `signing-key:${row.kid}`).then(
            (jwk) => importJWK(JSON.parse(jwk) as JWK, SIGNING_ALGORITHM) as Promise<CryptoKey>,
          ),
        };
      }
      return { kid: signer.kid, privateKey: await signer.key };
    },

    async verificationKey(kid) {
      let row = (await rows()).find((r) => r.kid === kid);
      // An unknown kid may be another process's new key: read again, but at most once a second, so
      // tokens with made-up kids cannot turn into a query each.
      if (!row && clock().getTime() - lastMissReload >= 1000) {
        lastMissReload = clock().getTime();
        row = (await load()).find((r) => r.kid === kid);
      }
      if (!row) return undefined;
      let key = publicKeys.get(kid);
      if (!key) {
        key = importJWK(jwkOf(row), SIGNING_ALGORITHM) as Promise<CryptoKey>;
        publicKeys.set(kid, key);
      }
      return key;
    },

    async jwks() {
      return { keys: (await rows()).map(jwkOf) };
    },

    async list() {
      const result = await sql<KeyRow>`
        select kid, state, public_jwk, private_key, created_at, activated_at, retired_at, published_until
        from warden_signing_keys order by created_at`.execute(db);
      return result.rows.map((r) => ({
        kid: r.kid,
        state: r.state,
        createdAt: new Date(r.created_at),
        activatedAt: dateOrNull(r.activated_at),
        retiredAt: dateOrNull(r.retired_at),
        publishedUntil: dateOrNull(r.published_until),
      }));
    },
  };
  return ring;
}
