import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { TenantRole } from '../commands/identity/index.ts';
import { record } from '../commands/kernel/index.ts';
import type { ClientState } from '../commands/oauth/index.ts';
import type { Config } from '../config.ts';
import type { Tables } from '../db/tables.ts';
import type { EventMetadata, EventStore } from '../eventstore/port.ts';
import type { CredentialsCheck, LoginThrottlePort, ResolvedTenant } from '../identity/index.ts';
import { leasedCounter } from '../identity/index.ts';
import type { TokenSessions } from '../identity/tokens/index.ts';
import { type BrowserSessions, browserSessions } from './browser-sessions.ts';
import { type ClientRegistry, clientRegistry } from './clients.ts';
import { type AuthorizationCodes, authorizationCodes } from './codes.ts';
import { type OAuthRecord, type OAuthRecordType, oauthRecordSchemas } from './events.ts';
import type { OAuthKeys } from './keys.ts';
import { type ReplayGuard, replayGuard } from './replay-guard.ts';
import { type PendingRequests, pendingRequests } from './requests.ts';

export type OAuthConfig = Pick<
  Config,
  | 'WARDEN_PUBLIC_URL'
  | 'WARDEN_TOKEN_AUDIENCE'
  | 'WARDEN_TOKEN_ISSUER'
  | 'WARDEN_OAUTH_ACCESS_TOKEN_TTL_SECONDS'
  | 'WARDEN_OAUTH_ID_TOKEN_TTL_SECONDS'
  | 'WARDEN_OAUTH_CODE_TTL_SECONDS'
  | 'WARDEN_OAUTH_PAR_TTL_SECONDS'
  | 'WARDEN_OAUTH_SESSION_TTL_HOURS'
  | 'WARDEN_OAUTH_TOKEN_RATE_PER_CLIENT'
  | 'WARDEN_OAUTH_TOKEN_RATE_PER_ADDRESS'
  | 'WARDEN_OAUTH_CLIENT_CACHE_MS'
  | 'WARDEN_REVOCATION_SYNC_MS'
>;

/** An active user now: their role, their OIDC claims, and when their password last changed. */
export interface OAuthUser {
  role: TenantRole;
  email: string;
  name: string;
  updatedAt: string;
  /** Sign-ins from before this (ISO time) no longer count; null when the password never changed. */
  credentialsChangedAt: string | null;
}

/** The user as the authorization server needs them: to sign in, to check they are still active, for claims. */
export interface OAuthUsers {
  verifyCredentials: CredentialsCheck;
  /** The user now (undefined when removed, rejected or not active). */
  current(tenantId: string, userId: string): Promise<OAuthUser | undefined>;
}

export type LoginThrottle = LoginThrottlePort;

/** Counts of what the cleanup process removed, for /metrics. */
export interface OAuthSweepCounts {
  codes: number;
  requests: number;
  sessions: number;
  assertions: number;
}

/** Everything the OAuth endpoints share: keys, clients, codes, pending requests, sessions, limits, audit. */
export interface OAuthServer {
  config: OAuthConfig;
  keys: OAuthKeys;
  clients: ClientRegistry;
  codes: AuthorizationCodes;
  requests: PendingRequests;
  browser: BrowserSessions;
  replay: ReplayGuard;
  tokens: TokenSessions;
  users: OAuthUsers;
  throttle?: LoginThrottle | undefined;
  store: EventStore;
  clock: () => Date;
  logger?: Logger | undefined;
  /** The tenant's issuer for this request: `<origin>/t/<slug>`, or the origin of its own domain. */
  issuerFor(tenant: ResolvedTenant, requestUrl: string): string;
  /** Appends an audit record (expected revision: any; the facts it names are already decided). */
  record<T extends OAuthRecordType>(
    streamId: string,
    type: T,
    data: OAuthRecord<T>,
    metadata: EventMetadata,
  ): Promise<void>;
  /** Admits a token-endpoint request for this client and address (false: over the limit). */
  admitToken(tenantId: string, clientId: string | undefined, address: string | undefined): Promise<boolean>;
  sweep(): Promise<OAuthSweepCounts>;
  /** The client as the token endpoint sees it (for grants needing only the id). */
  allows(client: ClientState, grant: ClientState['grantTypes'][number]): boolean;
}

export function oauthServer(deps: {
  config: OAuthConfig;
  db: Kysely<Tables>;
  store: EventStore;
  keys: OAuthKeys;
  tokens: TokenSessions;
  users: OAuthUsers;
  throttle?: LoginThrottle;
  clock?: () => Date;
  logger?: Logger;
}): OAuthServer {
  const clock = deps.clock ?? (() => new Date());
  const { config, db } = deps;
  const limiter = leasedCounter({ db, windowSeconds: 60, leaseFraction: 0.02 });
  const publicOrigin = config.WARDEN_PUBLIC_URL ? new URL(config.WARDEN_PUBLIC_URL).origin : undefined;

  return {
    config,
    keys: deps.keys,
    // A narrowed or deleted client narrows or ends its live tokens everywhere within the revocation
    // sync interval, as a revoked token does: every process reads the log's client changes that often.
    clients: clientRegistry({
      store: deps.store,
      ttlMs: config.WARDEN_OAUTH_CLIENT_CACHE_MS,
      syncMs: config.WARDEN_REVOCATION_SYNC_MS,
      clock,
    }),
    codes: authorizationCodes({ db, ttlSeconds: config.WARDEN_OAUTH_CODE_TTL_SECONDS, clock }),
    requests: pendingRequests({ db, clock }),
    browser: browserSessions({ db, ttlSeconds: config.WARDEN_OAUTH_SESSION_TTL_HOURS * 3600, clock }),
    replay: replayGuard(db, clock),
    tokens: deps.tokens,
    users: deps.users,
    throttle: deps.throttle,
    store: deps.store,
    clock,
    logger: deps.logger,

    issuerFor(tenant, requestUrl) {
      const origin = new URL(requestUrl).origin;
      // Its own domain or subdomain names the tenant by itself; otherwise the path does.
      if (tenant.via === 'domain' || tenant.via === 'subdomain') return origin;
      return `${publicOrigin ?? origin}/t/${tenant.slug}`;
    },

    async record(streamId, type, data, metadata) {
      await record(deps.store, streamId, { type, data }, oauthRecordSchemas, { metadata });
    },

    async admitToken(tenantId, clientId, address) {
      const now = clock();
      const checks: Promise<unknown>[] = [];
      if (clientId) {
        checks.push(
          limiter.admit(
            `oauth-client:${tenantId}:${clientId}`,
            config.WARDEN_OAUTH_TOKEN_RATE_PER_CLIENT,
            now,
          ),
        );
      }
      if (address) {
        checks.push(
          limiter.admit(`oauth-address:${address}`, config.WARDEN_OAUTH_TOKEN_RATE_PER_ADDRESS, now),
        );
      }
      const results = await Promise.all(checks);
      return results.every((r) => r !== null);
    },

    async sweep() {
      const server = this as OAuthServer;
      const [codes, requests, sessions] = await Promise.all([
        server.codes.sweep(),
        server.requests.sweep(),
        server.browser.sweep(),
      ]);
      const assertions = await server.replay.sweep();
      return { codes, requests, sessions, assertions };
    },

    allows(client, grant) {
      return client.grantTypes.includes(grant);
    },
  };
}
