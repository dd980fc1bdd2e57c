import { OpenAPIHono } from '@hono/zod-openapi';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { timeout } from 'hono/timeout';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { findUser, type Notifier } from '../commands/identity/index.ts';
import { aggregateRegistry } from '../commands/registry/index.ts';
import {
  type DomainOwnershipResolver,
  normalizeHostName,
  type ReservedHosts,
  tenantIdForSlug,
  tenantStatus,
  tenantStreamId,
} from '../commands/tenancy/index.ts';
import type { Config } from '../config.ts';
import type { Tables } from '../db/tables.ts';
import type { EventStore } from '../eventstore/port.ts';
import { identityCredentials } from '../identity/index.ts';
import { logNotifier } from '../identity/notifier/index.ts';
import type { IdentityStack } from '../identity-stack.ts';
import { httpMetrics } from '../metrics/http.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { type OAuthConfig, type OAuthServer, oauthServer } from '../oauth/index.ts';
import { npmTokenStore, type ViewSource } from '../packages/index.ts';
import type { PersonalDataKeys } from '../privacy/index.ts';
import type { StreamHub } from '../tools/index.ts';
import { WorkspaceAccess } from '../workspaces/index.ts';
import { auditContextRoutes, type ErasureRouteDeps } from './audit/index.ts';
import { identityRoutes, linkMail } from './identity/index.ts';
import type { AppEnv } from './kit/index.ts';
import { clientAddress, type ProjectionWaiter, problemResponse, readModels } from './kit/index.ts';
import {
  authenticate,
  exceptPaths,
  formBody,
  forwardedProto,
  idempotency,
  jsonBody,
  onError,
  rateLimit,
  requestContext,
  resolveTenant,
  storableUrl,
  tenantAwarePath,
} from './middleware/index.ts';
import { oauthRoutes } from './oauth/index.ts';
import type { DocsAssetLoader, ReadinessCheck } from './ops/index.ts';
import {
  type AdminProjectionDeps,
  metricsRoutes,
  type OpsRouteDeps,
  opsRoutes,
  swaggerUiAssets,
  WARDEN_VERSION,
} from './ops/index.ts';
import { npmTokenRoutes, npmViewRoutes, packageRoutes } from './packages/index.ts';
import { tenancyRoutes, tenantSignupRoutes } from './tenancy/index.ts';
import { toolRoutes } from './tools/index.ts';
import { trackerRoutes } from './tracker/index.ts';
import { workspaceAccessRoutes, workspacesRoutes } from './workspaces/index.ts';

export type AppConfig = Pick<
  Config,
  | 'WARDEN_BODY_LIMIT_BYTES'
  | 'WARDEN_READ_WAIT_MS'
  | 'WARDEN_IDEMPOTENCY_TTL_HOURS'
  | 'WARDEN_BASE_DOMAIN'
  | 'WARDEN_TENANT_CACHE_TTL_MS'
  | 'WARDEN_TRUSTED_PROXY_HOPS'
  | 'WARDEN_ANON_RATE_PER_MINUTE'
  | 'WARDEN_CORS_ORIGINS'
  | 'WARDEN_REQUEST_TIMEOUT_MS'
  | 'WARDEN_LOCKFILE_LIMIT_BYTES'
  | 'WARDEN_METRICS_TOKEN'
  // Only whether they are set: the start page says what runs.
  | 'DATABASE_URL'
  | 'EVENTSTORE_URL'
  | 'WARDEN_WORKERS'
  | 'WARDEN_PASSWORD_RESET_TTL_MINUTES'
  | 'WARDEN_EMAIL_VERIFICATION_TTL_HOURS'
  | 'WARDEN_TENANT_SIGNUP'
  | 'WARDEN_PUBLIC_URL'
  | 'PORT'
  | 'WARDEN_AGENT_STATS_TIMEOUT_MS'
  | 'WARDEN_AGENT_STATS_TTL_MS'
  | 'WARDEN_UPLOAD_EXPIRY_MS'
  | 'WARDEN_IMAGE_CONTEXT_MAX_BYTES'
  | 'WARDEN_TOOL_DENIED_TARGETS'
  | 'WARDEN_WORKSPACE_DOMAIN'
  | 'WARDEN_WORKSPACE_PATH_ROUTES'
  | 'WARDEN_WORKSPACE_SESSION_TTL_SECONDS'
> &
  OAuthConfig;

export interface AppDeps {
  config: AppConfig;
  store: EventStore;
  identity: IdentityStack;
  /** Projection status and rebuilds for `/v1/admin/projections` (absent: those routes are not served). */
  engine?: AdminProjectionDeps['engine'];
  /** Takes a backup of the embedded database for `/v1/admin/backup` (absent on PostgreSQL: 501). */
  backup?: OpsRouteDeps['backup'];
  /** False on EventStoreDB: tenant storage stats cannot be read from PostgreSQL. */
  eventsInDatabase: boolean;
  db: Kysely<Tables>;
  projections: ProjectionWaiter;
  readiness: readonly ReadinessCheck[];
  logger: Logger;
  clock?: () => Date;
  /** Where request metrics go and `/metrics` reads from (absent: no `/metrics`). */
  metrics?: Metrics;
  /**
   * Personal-data keys behind `store`: `POST /v1/users/{id}/erase` destroys them (absent: not served);
   * a workspace session's browser and address are sealed with them (absent: not kept).
   */
  personalData?: ErasureRouteDeps['personalData'] & Pick<PersonalDataKeys, 'current'>;
  /** The docs UI's files (default: the installed swagger-ui-dist). */
  docsAssets?: DocsAssetLoader;
  /** The OAuth server's state (default: built from the other dependencies; pass one to share it, e.g. its sweeps). */
  oauth?: OAuthServer;
  /** The secure registry tenants' npm views read from (absent: `/t/<slug>/npm/` answers 503). */
  npmRegistry?: ViewSource | undefined;
  /** The process's one reader of tool output, woken by LISTEN (default: one that polls). */
  toolStream?: StreamHub;
  /** Delivers reset links (default: the log-only notifier on `logger`; `main` chooses by WARDEN_SMTP_URL). */
  notifier?: Notifier;
  /** Where custom-domain verification reads TXT records (`dnsOwnershipResolver()` in production). */
  domainOwnership: DomainOwnershipResolver;
  /** Workspace tickets and sessions (default: on `db`, checking users in `store`). */
  workspaceAccess?: WorkspaceAccess;
  /**
   * The key the rendered workspace nginx vouches with for the address of a browser entering a
   * workspace (`workspaceNginxKey`). Absent: that address is read as for any other request.
   */
  workspaceNginxKey?: string;
}

/**
 * The names no tenant may claim as a custom domain: the base domain (and every name under it) and the
 * host Warden itself answers on (WARDEN_PUBLIC_URL's). Any other host of Warden's is protected by
 * verification: nobody but its operator can publish its `_warden-challenge` TXT record.
 */
export function reservedHosts(
  config: Pick<Config, 'WARDEN_BASE_DOMAIN' | 'WARDEN_PUBLIC_URL'>,
): ReservedHosts {
  return {
    baseDomain: normalizeHostName(config.WARDEN_BASE_DOMAIN),
    platformHosts: config.WARDEN_PUBLIC_URL
      ? [normalizeHostName(new URL(config.WARDEN_PUBLIC_URL).hostname)]
      : [],
  };
}

/** The OAuth server over the identity context: sign-in, the user as they are now, and login throttling. */
export function oauthServerFor(
  deps: Pick<AppDeps, 'config' | 'store' | 'db' | 'identity'> & Partial<Pick<AppDeps, 'clock' | 'logger'>>,
) {
  const clock = deps.clock ?? (() => new Date());
  const credentials = identityCredentials({
    store: deps.store,
    hasher: deps.identity.hasher,
    clock,
    userIds: deps.identity.userIds,
  });
  return oauthServer({
    config: deps.config,
    db: deps.db,
    store: deps.store,
    keys: deps.identity.oauthKeys,
    tokens: deps.identity.sessions,
    throttle: deps.identity.throttle,
    clock,
    ...(deps.logger ? { logger: deps.logger } : {}),
    users: {
      verifyCredentials: credentials,
      async current(tenantId, userId) {
        const found = await findUser(deps.store, tenantId, userId);
        if (found?.state.status !== 'active') return undefined;
        const { role, email, name, updatedAt, credentialsChangedAt } = found.state;
        return { role, email, name, updatedAt, credentialsChangedAt: credentialsChangedAt ?? null };
      },
    },
  });
}

/** The whole HTTP surface as one Hono app: the same object serves on Node, on Deno and in `app.request()` tests. */
export function createApp(deps: AppDeps) {
  const clock = deps.clock ?? (() => new Date());
  const app = new OpenAPIHono<AppEnv>({ getPath: tenantAwarePath });
  const { identity } = deps;
  // pnpm-lock.yaml and yarn.lock arrive as text, package-lock.json as JSON.
  const lockfileBody = jsonBody(deps.config.WARDEN_LOCKFILE_LIMIT_BYTES, {
    textTypes: /^(application\/yaml|text\/yaml|text\/plain)(\s*;.*)?$/i,
  });
  const body = jsonBody(deps.config.WARDEN_BODY_LIMIT_BYTES);
  const form = formBody(Math.min(deps.config.WARDEN_BODY_LIMIT_BYTES, 64 * 1024));
  const oauth = deps.oauth ?? oauthServerFor(deps);
  const address = clientAddress(deps.config.WARDEN_TRUSTED_PROXY_HOPS);
  const workspaceAccess =
    deps.workspaceAccess ??
    new WorkspaceAccess({
      db: deps.db as Kysely<unknown>,
      clock,
      sessionTtlMs: deps.config.WARDEN_WORKSPACE_SESSION_TTL_SECONDS * 1000,
      personalData: deps.personalData,
      // A suspended tenant's workspaces answer nobody, as its API does not; a changed or reset
      // password ends the workspace sessions made before it, as it ends the user's sign-ins.
      mayEnter: async (tenantId, userId, since) => {
        const [user, tenant] = await Promise.all([
          findUser(deps.store, tenantId, userId),
          tenantStatus(deps.store, tenantId),
        ]);
        const changed = user?.state.credentialsChangedAt;
        return (
          user?.state.status === 'active' &&
          tenant === 'active' &&
          (!changed || Date.parse(changed) <= since.getTime())
        );
      },
    });
  const workspaceDoors = workspaceAccessRoutes(
    workspaceAccess,
    deps.config.WARDEN_WORKSPACE_SESSION_TTL_SECONDS,
    deps.workspaceNginxKey,
  );
  // Before everything: the workspace nginx asks this before every request to a workspace (its answer
  // carries no body, and no browser reads it), so it skips the request log, metrics and headers.
  app.route('/', workspaceDoors.check);
  // First: behind a TLS-terminating proxy every later reader of the URL must see the scheme the client spoke.
  app.use('*', forwardedProto(deps.config.WARDEN_TRUSTED_PROXY_HOPS));
  // Once per request, so every command's metadata (`commandContext`) names the same client.
  app.use('*', async (c, next) => {
    const seen = address(c);
    if (seen) c.set('clientAddress', seen);
    await next();
  });
  app.use('*', requestContext(deps.logger));
  if (deps.metrics) app.use('*', httpMetrics(deps.metrics));
  app.use('*', storableUrl());
  // Nothing Warden serves is meant to be framed (the sign-in and consent pages least of all).
  app.use('*', secureHeaders({ xFrameOptions: 'DENY' }));
  // Before authentication: a scraper sends the metrics token, not a user's access token.
  if (deps.metrics) app.route('/', metricsRoutes(deps.metrics, deps.config.WARDEN_METRICS_TOKEN));
  // Before tenants and authentication: a browser entering a workspace carries a ticket, no token.
  app.route('/', workspaceDoors.enter);
  const origins = (deps.config.WARDEN_CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  if (origins.length > 0) {
    // The token-style endpoints and discovery serve browser apps too; the authorization endpoint never
    // answers cross-origin requests (it is navigated to, not fetched).
    const oauthCors = cors({
      origin: origins,
      allowHeaders: ['Authorization', 'Content-Type', 'DPoP'],
      exposeHeaders: ['WWW-Authenticate', 'DPoP-Nonce', 'Retry-After'],
      maxAge: 600,
    });
    for (const path of [
      '/oauth/token',
      '/oauth/revoke',
      '/oauth/userinfo',
      '/oauth/jwks',
      '/.well-known/*',
    ]) {
      app.use(path, oauthCors);
    }
    app.use(
      '/v1/*',
      cors({
        origin: origins,
        allowHeaders: [
          'Authorization',
          'Content-Type',
          'If-Match',
          'Idempotency-Key',
          'X-Tenant',
          'X-Min-Position',
        ],
        exposeHeaders: [
          'ETag',
          'Location',
          'X-Position',
          'X-Request-Id',
          'Retry-After',
          'RateLimit-Limit',
          'RateLimit-Remaining',
          'RateLimit-Reset',
        ],
        maxAge: 600,
      }),
    );
  }
  if (deps.config.WARDEN_REQUEST_TIMEOUT_MS > 0) {
    const limit = timeout(
      deps.config.WARDEN_REQUEST_TIMEOUT_MS,
      () =>
        new HTTPException(503, {
          message: `the request took longer than ${deps.config.WARDEN_REQUEST_TIMEOUT_MS} ms`,
        }),
    );
    // It bounds the handler until it returns its response; a streamed body (an export) then flows freely.
    // An upload's PATCH lasts as long as its bytes take to arrive: it has no deadline of its own.
    app.use('/v1/*', exceptPaths('/v1/uploads/*', limit));
  }
  // A lockfile may be far larger than any other body: its route has its own limit. OAuth endpoints take forms.
  app.use('/v1/package-requests', lockfileBody);
  app.use('/oauth/*', form);
  // Upload bodies are bytes, streamed on to an agent, never read whole here; an image build's tar
  // context is bytes too, bounded by its route (MAX_BUILD_CONTEXT_BYTES).
  app.use('*', exceptPaths(['/v1/package-requests', '/oauth/*', '/v1/uploads/*', '/v1/images/builds'], body));

  // Who and where: the tenant (platform routes may name none), then the caller, then the caller's rate limit.
  const reserved = reservedHosts(deps.config);
  const tenants = resolveTenant({
    db: deps.db,
    baseDomain: deps.config.WARDEN_BASE_DOMAIN,
    platformHosts: reserved.platformHosts,
    cacheTtlMs: deps.config.WARDEN_TENANT_CACHE_TTL_MS,
    syncMs: deps.config.WARDEN_REVOCATION_SYNC_MS,
    clock,
    catchUp: async (slug) => {
      // The tenant's stream begins with its creation: once the list is past it, the row is there.
      const [created] = await deps.store.readStream(tenantStreamId(await tenantIdForSlug(slug)), {
        limit: 1,
      });
      if (!created) return false;
      return (await deps.projections.waitFor('tenantList', created.position, deps.config.WARDEN_READ_WAIT_MS))
        ? true
        : undefined;
    },
  });
  for (const path of PLATFORM_ROUTES) app.use(path, tenants.optional);
  app.use('/v1/*', exceptPaths(PLATFORM_ROUTES, tenants.middleware));
  // Each tenant is its own issuer: its OAuth endpoints and discovery documents resolve it like any route.
  for (const path of [
    '/oauth/*',
    '/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server',
  ]) {
    app.use(path, tenants.middleware);
  }
  // Budgets per caller (the plan's, for each user or OAuth client) or, without valid credentials, per
  // address: anonymous traffic naming a tenant never spends the tenant's users' budgets.
  const limits = rateLimit({
    db: deps.db,
    clock,
    anonymousLimit: deps.config.WARDEN_ANON_RATE_PER_MINUTE,
    clientAddress: address,
  });
  app.use('/v1/*', limits.refusedCredentials);
  // A tenant's npm view takes its own read tokens (npm's `_authToken`), not access tokens: before authentication.
  const npmTokens = npmTokenStore({ db: deps.db, store: deps.store, clock });
  app.route(
    '/',
    npmViewRoutes({ db: deps.db, tenants: tenants.middleware, tokens: npmTokens, source: deps.npmRegistry }),
  );
  const authenticated = authenticate({
    keys: identity.keys,
    sessions: identity.sessions,
    access: identity.access,
    clock,
    oauth: { keys: identity.oauthKeys, replay: oauth.replay, clients: oauth.clients },
  });
  // The OAuth endpoints read their own credentials (client authentication, DPoP-bound tokens).
  app.use('*', exceptPaths('/oauth/*', authenticated));
  app.use('/v1/*', limits.callers);

  // Token responses are never stored: a replayed login or refresh would hand out a used token.
  const keyed = idempotency({
    db: deps.db,
    ttlHours: deps.config.WARDEN_IDEMPOTENCY_TTL_HOURS,
    clock,
    // An anonymous caller (a sign-up, a forgotten password) is known only by its address: keys of two
    // strangers in one tenant never meet, so neither can see, block or collide with the other's.
    scope: (c) => {
      const principal = c.get('principal');
      if (principal) return `user:${principal.userId}`;
      const tenant = c.get('tenant');
      const from = `address:${c.get('clientAddress') ?? 'unknown'}`;
      return tenant ? `tenant:${tenant.id} ${from}` : `anonymous ${from}`;
    },
  });
  app.use('/v1/*', exceptPaths('/v1/auth/*', keyed));

  const reads = readModels(deps.store, deps.projections, deps.config.WARDEN_READ_WAIT_MS);
  const routeDeps = { store: deps.store, db: deps.db, readModels: reads, clock };
  app.route(
    '/',
    opsRoutes({
      db: deps.db,
      readiness: deps.readiness,
      docsAssets: deps.docsAssets ?? swaggerUiAssets,
      engine: deps.engine,
      backup: deps.backup,
      clock,
      about: {
        database: deps.config.DATABASE_URL ? 'PostgreSQL' : 'PGlite',
        eventStore: deps.config.EVENTSTORE_URL
          ? 'KurrentDB'
          : deps.config.DATABASE_URL
            ? 'PostgreSQL'
            : 'PGlite',
        workers: deps.config.WARDEN_WORKERS,
      },
    }),
  );
  const mail = linkMail({
    store: deps.store,
    notifier: deps.notifier ?? logNotifier(deps.logger),
    clock,
    resetTtlSeconds: deps.config.WARDEN_PASSWORD_RESET_TTL_MINUTES * 60,
    verificationTtlSeconds: deps.config.WARDEN_EMAIL_VERIFICATION_TTL_HOURS * 3600,
    publicOrigin: deps.config.WARDEN_PUBLIC_URL
      ? new URL(deps.config.WARDEN_PUBLIC_URL).origin
      : `http://localhost:${deps.config.PORT}`,
  });
  app.route(
    '/',
    identityRoutes({
      ...routeDeps,
      keys: identity.keys,
      sessions: identity.sessions,
      users: identity.userStreams,
      verifyCredentials: identityCredentials({
        store: deps.store,
        hasher: identity.hasher,
        clock,
        userIds: identity.userIds,
      }),
      throttle: identity.throttle,
      clientAddress: address,
      hasher: identity.hasher,
      defaultSignupPolicy: identity.defaultSignupPolicy,
      userIds: identity.userIds,
      mail,
      resetTtlSeconds: deps.config.WARDEN_PASSWORD_RESET_TTL_MINUTES * 60,
    }),
  );
  app.route(
    '/',
    oauthRoutes({ ...routeDeps, server: oauth, clientAddress: address, tokens: identity.sessions }),
  );
  app.route(
    '/',
    auditContextRoutes({ ...routeDeps, aggregates: aggregateRegistry(), personalData: deps.personalData }),
  );
  app.route(
    '/',
    tenantSignupRoutes({
      ...routeDeps,
      hasher: identity.hasher,
      userIds: identity.userIds,
      tenantSignup: deps.config.WARDEN_TENANT_SIGNUP,
      mail,
    }),
  );
  app.route(
    '/v1/tenants',
    tenancyRoutes({
      ...routeDeps,
      eventsInDatabase: deps.eventsInDatabase,
      domains: { ownership: deps.domainOwnership, reserved, changed: tenants.forgetHost },
    }),
  );
  app.route('/', trackerRoutes(routeDeps));
  app.route(
    '/',
    workspacesRoutes({
      ...routeDeps,
      sealer: identity.sealer,
      ...(deps.toolStream ? { hub: deps.toolStream } : {}),
      stats: {
        timeoutMs: deps.config.WARDEN_AGENT_STATS_TIMEOUT_MS,
        ttlMs: deps.config.WARDEN_AGENT_STATS_TTL_MS,
      },
      uploadExpiryMs: deps.config.WARDEN_UPLOAD_EXPIRY_MS,
      imageContextMaxBytes: deps.config.WARDEN_IMAGE_CONTEXT_MAX_BYTES,
      access: workspaceAccess,
      workspaceDomain: deps.config.WARDEN_WORKSPACE_DOMAIN,
      pathRoutes: deps.config.WARDEN_WORKSPACE_PATH_ROUTES,
    }),
  );
  app.route('/', packageRoutes(routeDeps));
  app.route('/', npmTokenRoutes({ tokens: npmTokens }));
  app.route(
    '/',
    toolRoutes({
      ...routeDeps,
      deniedTargets: deps.config.WARDEN_TOOL_DENIED_TARGETS,
      ...(deps.toolStream ? { hub: deps.toolStream } : {}),
    }),
  );

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Warden',
      version: WARDEN_VERSION,
      description: 'Multi-tenant, event-sourced security platform API',
    },
  });
  app.notFound((c) =>
    problemResponse(c, 404, 'not-found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`),
  );
  app.onError(onError);
  return app;
}

/** Platform routes act across tenants: they may be called without naming one (`/x/*` matches `/x` too). */
const PLATFORM_ROUTES = ['/v1/tenants/*', '/v1/admin/*', '/v1/signup'];

export type WardenApp = ReturnType<typeof createApp>;
