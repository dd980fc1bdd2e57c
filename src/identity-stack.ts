import type { Kysely } from 'kysely';
import { type SignupPolicy, type UserIds, userEventTypes } from './commands/identity/index.ts';
import { tenantStatus } from './commands/tenancy/index.ts';
import type { Config } from './config.ts';
import type { Tables } from './db/tables.ts';
import type { EventStore } from './eventstore/port.ts';
import { type StreamCache, streamCache } from './eventstore/stream-cache.ts';
import {
  argon2idHasher,
  identityCurrentUser,
  type LoginFailureReason,
  type LoginThrottle,
  loginThrottle,
  observedLoginThrottle,
  open,
  type PasswordHasher,
  seal,
  sweepEndedWindows,
} from './identity/index.ts';
import { type KeyRing, keyRing, type TokenSessions, tokenSessions } from './identity/tokens/index.ts';
import { issueOAuthAccessToken, type OAuthKeys, oauthKeys } from './oauth/index.ts';
import { keyedUserIdsFrom } from './privacy/index.ts';

export type IdentityConfig = Pick<
  Config,
  | 'WARDEN_ARGON2_MEMORY_KIB'
  | 'WARDEN_ARGON2_TIME_COST'
  | 'WARDEN_ARGON2_PARALLELISM'
  | 'WARDEN_ARGON2_CONCURRENCY'
  | 'WARDEN_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT'
  | 'WARDEN_LOGIN_MAX_ATTEMPTS_PER_ADDRESS'
  | 'WARDEN_LOGIN_WINDOW_SECONDS'
  | 'WARDEN_LOGIN_FREE_FAILURES'
  | 'WARDEN_LOGIN_BACKOFF_BASE_MS'
  | 'WARDEN_LOGIN_BACKOFF_MAX_MS'
  | 'WARDEN_TOKEN_ISSUER'
  | 'WARDEN_TOKEN_AUDIENCE'
  | 'WARDEN_ACCESS_TOKEN_TTL_SECONDS'
  | 'WARDEN_REFRESH_TOKEN_TTL_DAYS'
  | 'WARDEN_REFRESH_IDLE_TTL_DAYS'
  | 'WARDEN_REFRESH_GRACE_SECONDS'
  | 'WARDEN_JWKS_CACHE_SECONDS'
  | 'WARDEN_REVOCATION_SYNC_MS'
  | 'WARDEN_USER_CACHE_MS'
  | 'WARDEN_DEFAULT_SIGNUP_POLICY'
  | 'WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS'
  | 'WARDEN_OAUTH_CACHE_TENANTS'
>;

/** Everything that answers "who is calling": password hashing, signing keys, sessions and login throttling. */
export interface IdentityStack {
  hasher: PasswordHasher;
  keys: KeyRing;
  /** Each tenant's own OAuth issuer keys (made on first use, cached for the tenants in use). */
  oauthKeys: OAuthKeys;
  sessions: TokenSessions;
  /**
   * Users' streams as `GET /v1/me` reads them: cached, kept current by this process's appends and by
   * the log (a change made elsewhere arrives within WARDEN_REVOCATION_SYNC_MS, as a revocation does).
   */
  userStreams?: StreamCache;
  throttle: LoginThrottle;
  access: { issuer: string; audience: string; ttlSeconds: number };
  defaultSignupPolicy: SignupPolicy;
  /** How user ids follow from emails: keyed with a secret derived from the key-encryption key. */
  userIds?: UserIds;
  /** Seals and opens other secrets kept in the database (agent keys) with the key-encryption key. */
  sealer: {
    seal(plaintext: string, context: string): Promise<string>;
    open(sealed: string, context: string): Promise<string>;
  };
  /** Deletes expired throttle records, denylist entries and token families (housekeeping only). */
  sweep(): Promise<{ throttle: number; sessions: number; rateLimits: number }>;
}

const DAY = 86_400;

/**
 * Builds the identity stack from configuration. The key-encryption key is passed in (it comes from
 * configuration or a file, which is the runtime's business); `ensure()` makes sure signing keys exist.
 */
export async function identityStack(deps: {
  config: IdentityConfig;
  db: Kysely<Tables>;
  store: EventStore;
  keyEncryptionKey: CryptoKey;
  clock?: () => Date;
  /** Counts refused sign-ins by reason (the process's metrics). */
  loginFailures?: { inc(labels: { reason: LoginFailureReason }): void };
}): Promise<IdentityStack> {
  const { config, db, store } = deps;
  const clock = deps.clock ?? (() => new Date());
  const access = {
    issuer: config.WARDEN_TOKEN_ISSUER,
    audience: config.WARDEN_TOKEN_AUDIENCE,
    ttlSeconds: config.WARDEN_ACCESS_TOKEN_TTL_SECONDS,
  };
  const keys = keyRing({
    db,
    store,
    keyEncryptionKey: deps.keyEncryptionKey,
    accessTokenTtlSeconds: access.ttlSeconds,
    cacheTtlSeconds: config.WARDEN_JWKS_CACHE_SECONDS,
    clock,
  });
  await keys.ensure();
  const tenantKeys = oauthKeys({
    db,
    keyEncryptionKey: deps.keyEncryptionKey,
    clock,
    cacheTtlSeconds: config.WARDEN_JWKS_CACHE_SECONDS,
    cacheMax: config.WARDEN_OAUTH_CACHE_TENANTS,
  });
  const oauthAccess = { audience: access.audience, ttlSeconds: config.WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS };
  const sessions = tokenSessions({
    db,
    store,
    keys,
    access,
    refresh: {
      absoluteTtlSeconds: config.WARDEN_REFRESH_TOKEN_TTL_DAYS * DAY,
      idleTtlSeconds: config.WARDEN_REFRESH_IDLE_TTL_DAYS * DAY,
      graceSeconds: config.WARDEN_REFRESH_GRACE_SECONDS,
    },
    // Read on every refresh beside the user (in parallel): the tenant stream is short.
    currentUser: identityCurrentUser({
      store,
      tenantSuspended: async (tenantId) => (await tenantStatus(store, tenantId)) === 'suspended',
    }),
    oauthAccess: (user, familyId, now) =>
      issueOAuthAccessToken(
        tenantKeys,
        oauthAccess,
        {
          tenantId: user.tenantId,
          issuer: user.oauth.issuer,
          subject: user.userId,
          clientId: user.oauth.clientId,
          scope: user.oauth.scope,
          role: user.role,
          familyId,
          jkt: user.oauth.dpopJkt,
          authTime: user.oauth.authTime,
        },
        now,
      ),
    clock,
    revocationSyncMs: config.WARDEN_REVOCATION_SYNC_MS,
  });
  const userIds = await keyedUserIdsFrom(deps.keyEncryptionKey);
  const throttled = loginThrottle(
    db,
    {
      maxAttemptsPerAccount: config.WARDEN_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT,
      maxAttemptsPerAddress: config.WARDEN_LOGIN_MAX_ATTEMPTS_PER_ADDRESS,
      windowSeconds: config.WARDEN_LOGIN_WINDOW_SECONDS,
      freeFailures: config.WARDEN_LOGIN_FREE_FAILURES,
      backoffBaseMs: config.WARDEN_LOGIN_BACKOFF_BASE_MS,
      backoffMaxMs: config.WARDEN_LOGIN_BACKOFF_MAX_MS,
    },
    clock,
  );
  const throttle = observedLoginThrottle(throttled, {
    store,
    userIds,
    clock,
    failures: deps.loginFailures,
  });
  return {
    hasher: argon2idHasher(
      {
        memoryCost: config.WARDEN_ARGON2_MEMORY_KIB,
        timeCost: config.WARDEN_ARGON2_TIME_COST,
        parallelism: config.WARDEN_ARGON2_PARALLELISM,
      },
      config.WARDEN_ARGON2_CONCURRENCY,
    ),
    keys,
    oauthKeys: tenantKeys,
    sessions,
    userStreams: streamCache(store, {
      types: userEventTypes,
      syncMs: config.WARDEN_REVOCATION_SYNC_MS,
      ttlMs: config.WARDEN_USER_CACHE_MS,
      max: 10_000,
      clock,
    }),
    throttle,
    access,
    defaultSignupPolicy: config.WARDEN_DEFAULT_SIGNUP_POLICY,
    userIds,
    sealer: {
      seal: (plaintext, context) => seal(deps.keyEncryptionKey, plaintext, context),
      open: (sealed, context) => open(deps.keyEncryptionKey, sealed, context),
    },
    sweep: async () => ({
      throttle: await throttle.sweep(),
      sessions: await sessions.sweep(),
      rateLimits: await sweepEndedWindows(db, clock()),
    }),
  };
}
