import type { Kysely } from 'kysely';
import { registerUser } from '../../src/commands/identity/index.ts';
import type { TenantRole } from '../../src/commands/identity/permissions.ts';
import { tenantIdForSlug } from '../../src/commands/tenancy/index.ts';
import type { PlanId } from '../../src/commands/tenancy/plans.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { upcasters } from '../../src/eventstore/upcasters.ts';
import { upcastingStore } from '../../src/eventstore/upcasting.ts';
import { type AppDeps, createApp, type WardenApp } from '../../src/http/app.ts';
import { notifierFromConfig } from '../../src/identity/notifier/index.ts';
import { aesKey, base64url, fromBase64url } from '../../src/identity/tokens/crypto.ts';
import { identityStack } from '../../src/identity-stack.ts';
import { createLogger } from '../../src/logger.ts';
import { registerGauges } from '../../src/metrics/gauges.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { meteredStore } from '../../src/metrics/store.ts';
import { personalDataKeys, personalDataStore } from '../../src/privacy/index.ts';
import { ProjectionEngine } from '../../src/projections/engine/engine.ts';
import { projections } from '../../src/projections/registry.ts';
import { listen } from '../../src/runtime/index.ts';
import { pollingFor } from '../../src/service.ts';
import { streamHub } from '../../src/tools/stream-hub.ts';
import { tenantFixtures, uniqueSlug } from '../tenancy/support.ts';
import type { TestDatabase } from './databases.ts';

export interface TestAppOptions {
  bodyLimit?: number;
  /** Any configuration variable (as the environment would give it); defaults otherwise, with cheap argon2. */
  env?: Record<string, string>;
  clock?: () => Date;
  /** How often the projection engine polls the head (10 ms here; `warden serve`: see `pollingFor`). */
  projectionPollMs?: number;
  /** How often a live subscription polls for other processes' events (10 ms here; `warden serve`: see `pollingFor`). */
  subscriptionPollMs?: number;
  /**
   * Runs the background work as `warden serve` does, for benchmarks: the tenant cache on (5 s), its
   * polls of the head and of the subscriptions' tail (`pollingFor`), and output streams woken by
   * LISTEN with a 250 ms poll. The test defaults poll every 10 ms and 20 ms (and the tenant uncached)
   * so a test does not wait: each poll is a query, on PGlite one on the event loop that serves
   * requests. Options and `env` given alongside win.
   */
  serve?: boolean;
}

export interface RequestOptions extends RequestInit {
  json?: unknown;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as `X-Tenant: <slug>`. */
  tenant?: string;
}

export interface SignedInUser {
  userId: string;
  email: string;
  password: string;
  token: string;
  refreshToken: string;
  tenantId: string;
  tenantSlug: string;
  role: TenantRole;
}

/**
 * The whole service in-process, as `warden serve` assembles it (tenant resolution, rate limits,
 * authentication, every route), on a database the test owns, with its log lines captured. argon2 runs
 * with cheap parameters unless the test sets WARDEN_ARGON2_* (these tests share two cores), and the
 * anonymous rate limit is out of reach unless the test sets WARDEN_ANON_RATE_PER_MINUTE.
 */
export async function testApp(fresh: () => Promise<TestDatabase>, given: TestAppOptions = {}) {
  const { database, dispose } = await fresh();
  const options: TestAppOptions = given.serve
    ? {
        ...pollingFor(database.kind),
        ...given,
        env: { WARDEN_TENANT_CACHE_TTL_MS: '5000', ...given.env },
      }
    : given;
  // As the service sees it: every read upcast, every append stamped with its schema version, personal
  // fields sealed with the person's key on append and opened (or erased) on read.
  const metrics = createMetrics();
  // Kept as text too: a worker process a test starts opens what this app sealed.
  const keyEncryptionKeyText = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const keyEncryptionKey = await aesKey(fromBase64url(keyEncryptionKeyText));
  const personalData = personalDataKeys(database.db as Kysely<unknown>, keyEncryptionKey);
  const store = meteredStore(
    upcastingStore(
      personalDataStore(
        postgresEventStore(database, { pollIntervalMs: options.subscriptionPollMs ?? 10 }),
        personalData,
      ),
      upcasters,
    ),
    metrics,
  );
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  const engine = new ProjectionEngine({
    database,
    store,
    projections,
    logger,
    pollIntervalMs: options.projectionPollMs ?? 10,
  });
  await engine.start();
  registerGauges(metrics, { database, engine });
  const config: Config = loadConfig({
    WARDEN_ARGON2_MEMORY_KIB: '1024',
    WARDEN_ARGON2_TIME_COST: '1',
    WARDEN_TENANT_CACHE_TTL_MS: '0',
    WARDEN_BASE_DOMAIN: 'warden.test',
    WARDEN_DEFAULT_SIGNUP_POLICY: 'open',
    // In-process requests have no address: every anonymous one of a test file would share one budget.
    WARDEN_ANON_RATE_PER_MINUTE: '1000000',
    WARDEN_BODY_LIMIT_BYTES: String(options.bodyLimit ?? 64 * 1024),
    // The tool tests scan services they open on 127.0.0.1, which the platform denies by default.
    WARDEN_TOOL_DENIED_TARGETS: 'none',
    ...options.env,
  });
  const clock = options.clock ?? (() => new Date());
  const identity = await identityStack({
    config,
    db: database.db,
    store,
    keyEncryptionKey,
    clock,
    loginFailures: metrics.loginFailures,
  });
  /** The DNS custom-domain verification sees: TXT records by name, set by the test. */
  const dns = new Map<string, string[][]>();
  const deps: AppDeps = {
    config,
    domainOwnership: { resolveTxt: async (name) => dns.get(name) ?? [] },
    identity,
    eventsInDatabase: true,
    store,
    personalData,
    db: database.db,
    projections: engine,
    engine,
    readiness: [],
    logger,
    clock,
    metrics,
    // As `main` chooses: SMTP when the test sets WARDEN_SMTP_URL (a real smtp-server), else the log line.
    notifier: notifierFromConfig(config, logger),
    // As `main` builds it; without it the routes' own hub polls every 20 ms and hears no notices.
    ...(options.serve
      ? {
          toolStream: streamHub({
            db: database.db as never,
            listen: database.listen,
            schema: database.schema,
          }),
        }
      : {}),
  };
  const app = createApp(deps);

  const requester =
    (target: { request(url: string, init: RequestInit): Response | Promise<Response> }) =>
    (path: string, init: RequestOptions = {}) => {
      const { json, token, tenant, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
      if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
      if (tenant !== undefined) headers.set('x-tenant', tenant);
      const url = path.startsWith('http') ? path : `http://localhost${path}`;
      return target.request(url, {
        ...rest,
        ...(json !== undefined && rest.method === undefined ? { method: 'POST' } : {}),
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    };

  const request = requester(app);
  /** Another app on the same database and stack, with some dependencies changed (its own caches: another process). */
  const variantApp = (overrides: Partial<AppDeps> = {}) => createApp({ ...deps, ...overrides });
  const variant = (overrides: Partial<AppDeps>) => requester(variantApp(overrides));

  /**
   * The app (or a variant) listening on a free loopback port through the listener `warden serve`
   * uses: `request` takes the same arguments as above but goes over real HTTP (redirects not followed).
   */
  const listening = async (target: WardenApp = app) => {
    const server = await listen(target.fetch, { port: 0, hostname: '127.0.0.1' });
    const base = `http://127.0.0.1:${server.port}`;
    const overHttp = {
      request: (url: string, init: RequestInit) =>
        fetch(url.replace(/^http:\/\/localhost(?=\/|$)/, base), { ...init, redirect: 'manual' }),
    };
    return { base, request: requester(overHttp), close: () => server.close(1000) };
  };

  const fixtures = tenantFixtures(store, engine);
  /** A new tenant (enterprise plan unless told: no user limit, a high API rate). */
  const tenant = (slug: string = uniqueSlug(), plan: PlanId = 'enterprise') => fixtures.create(plan, slug);

  /** Logs in over HTTP: the token pair a real client would hold. */
  const login = async (tenantSlug: string, email: string, password: string) => {
    const res = await request('/v1/auth/login', { tenant: tenantSlug, json: { email, password } });
    if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as { access_token: string; refresh_token: string; expires_in: number };
  };

  /** Registers a user directly through the identity context's command (admin-added: active at once). */
  const register = async (input: {
    tenantId: string;
    role?: TenantRole;
    email?: string;
    name?: string;
    platformSuperadmin?: boolean;
  }) => {
    const role = input.role ?? 'member';
    const email = input.email ?? `${role}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const password = `pw-${crypto.randomUUID()}`;
    const result = await registerUser(
      store,
      identity.hasher,
      {
        tenantId: input.tenantId,
        email,
        name: input.name ?? `Test ${role}`,
        password,
        role,
        via: 'admin',
        ...(input.platformSuperadmin ? { platformSuperadmin: true } : {}),
        maxUsers: null,
        defaultPolicy: 'open',
        at: clock().toISOString(),
      },
      { metadata: { tenantId: input.tenantId, actorId: 'test' } },
      identity.userIds,
    );
    return { userId: result.state.userId, email, password, role };
  };

  /**
   * The user a self-registration created, found in the event store: `/v1/auth/register` answers a
   * new and a taken email alike, so its answer names no user. The latest `UserRegistered` of `email`
   * in `tenantId` (after position `after` when given), waiting a moment for the store's visibility horizon.
   */
  const registered = async (tenantId: string, email: string, after?: string) => {
    const wanted = email.trim().toLowerCase();
    const deadline = Date.now() + 5_000;
    for (;;) {
      const found = (await store.readAll())
        .filter((e) => e.type === 'UserRegistered')
        .map((e) => ({
          event: e,
          data: e.data as { userId: string; tenantId: string; email: string; status: string },
        }))
        .filter(({ data }) => data.tenantId === tenantId && data.email === wanted)
        .filter(({ event }) => after === undefined || event.position > BigInt(after))
        .at(-1);
      if (found) {
        return {
          id: found.data.userId,
          status: found.data.status,
          position: found.event.position.toString(),
        };
      }
      if (Date.now() > deadline) throw new Error(`no registration of ${wanted} in tenant ${tenantId}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  /**
   * Opens the verification link a self-registration in an open tenant mailed to `email`: read from
   * the log-only notifier's line (the default adapter here, a real one), the latest such link, then
   * posted as the link's page would. Throws when no link came within a few seconds.
   */
  const verifyEmail = async (tenantSlug: string, email: string) => {
    const wanted = email.trim().toLowerCase();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const line = lines
        .filter((l) => l.includes('"kind":"email_verification"') && l.includes(`"to":"${wanted}"`))
        .at(-1);
      const token = line?.match(/#token=([0-9a-f-]{36}\.[A-Za-z0-9_-]{43})/)?.[1];
      if (token) {
        const res = await request('/v1/auth/verify-email', { tenant: tenantSlug, json: { token } });
        if (res.status !== 204) throw new Error(`verify-email answered ${res.status}: ${await res.text()}`);
        return token;
      }
      if (Date.now() > deadline) throw new Error(`no verification link for ${wanted}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const signIn = async (
    slug: string,
    input: Omit<Parameters<typeof register>[0], 'tenantId'>,
  ): Promise<SignedInUser> => {
    const tenantId = await tenantIdForSlug(slug);
    const registered = await register({ ...input, tenantId });
    const pair = await login(slug, registered.email, registered.password);
    return {
      ...registered,
      token: pair.access_token,
      refreshToken: pair.refresh_token,
      tenantId,
      tenantSlug: slug,
    };
  };

  /**
   * A signed-in user of `tenant` (a slug; a new tenant when absent) with `role`: registered through the
   * identity context's command, then logged in over HTTP, so the token is real.
   */
  const user = async (
    input: { tenant?: string; role?: TenantRole; email?: string; name?: string } = {},
  ): Promise<SignedInUser> => {
    const { tenant: slug, ...rest } = input;
    return signIn(slug ?? (await tenant()).slug, rest);
  };

  /** The platform superadmin (an owner of tenant `slug`, or of a new tenant, with the flag), signed in. */
  const superadmin = async (slug?: string): Promise<SignedInUser> =>
    signIn(slug ?? (await tenant()).slug, { role: 'owner', name: 'Root', platformSuperadmin: true });

  return {
    app,
    config,
    dns,
    identity,
    keyEncryptionKeyText,
    store,
    personalData,
    database,
    engine,
    lines,
    request,
    variant,
    variantApp,
    listening,
    tenant,
    fixtures,
    login,
    register,
    registered,
    verifyEmail,
    user,
    superadmin,
    async dispose() {
      await deps.toolStream?.close();
      await engine.stop();
      await dispose();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof testApp>>;

/**
 * A JSON response body as tests read it: loosely, field by field, each assertion saying what it
 * expects. The one place tests opt out of the type checker.
 */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions, not the types
export type LooseJson = Record<string, any>;
