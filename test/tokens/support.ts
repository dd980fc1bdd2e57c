import { OpenAPIHono } from '@hono/zod-openapi';
import { registerUser } from '../../src/commands/identity/index.ts';
import type { AppEnv } from '../../src/http/env.ts';
import { authenticate } from '../../src/http/middleware/authenticate.ts';
import { requirePermission } from '../../src/http/middleware/authorize.ts';
import { onError } from '../../src/http/middleware/errors.ts';
import { requestContext } from '../../src/http/middleware/request-context.ts';
import { resolveTenant, tenantAwarePath } from '../../src/http/middleware/tenant.ts';
import {
  authTokenRoutes,
  identityCredentials,
  identityCurrentUser,
} from '../../src/http/routes/auth-tokens.ts';
import { argon2idHasher } from '../../src/identity/passwords.ts';
import type { TenantRole } from '../../src/identity/permissions.ts';
import { aesKey } from '../../src/identity/tokens/crypto.ts';
import { type KeyRing, keyRing, type TokenSessions, tokenSessions } from '../../src/identity/tokens/index.ts';
import { createLogger } from '../../src/logger.ts';
import { testApp } from '../support/app.ts';
import type { TestDatabase } from '../support/databases.ts';
import { tenantFixtures } from '../tenancy/support.ts';

export const ISSUER = 'https://warden.test';
export const AUDIENCE = 'warden-api';
export const ACCESS_TTL = 900;
export const GRACE = 10;

/** Cheap argon2 parameters: these tests are about tokens, and share two cores with other suites. */
const hasher = argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });

/**
 * The service in-process with the token stack mounted as the lead mounts it — tenant resolution, then
 * authentication, then routes — on a database the test owns, with a clock the test moves.
 */
export async function tokenHarness(fresh: () => Promise<TestDatabase>) {
  const t = await testApp(fresh);
  let now = Date.parse('2026-03-01T12:00:00Z');
  const clock = () => new Date(now);
  const keys: KeyRing = keyRing({
    db: t.database.db,
    keyEncryptionKey: await aesKey(crypto.getRandomValues(new Uint8Array(32))),
    accessTokenTtlSeconds: ACCESS_TTL,
    cacheTtlSeconds: 60,
    store: t.store,
    clock,
  });
  await keys.ensure();
  const sessions: TokenSessions = tokenSessions({
    db: t.database.db,
    store: t.store,
    keys,
    access: { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: ACCESS_TTL },
    refresh: { absoluteTtlSeconds: 30 * 86400, idleTtlSeconds: 7 * 86400, graceSeconds: GRACE },
    currentUser: identityCurrentUser({ store: t.store }),
    clock,
  });
  const lines: string[] = [];
  const app = new OpenAPIHono<AppEnv>({ getPath: tenantAwarePath });
  app.use('*', requestContext(createLogger('info', { write: (line: string) => void lines.push(line) })));
  const resolver = resolveTenant({ db: t.database.db, baseDomain: 'warden.test', cacheTtlMs: 0, clock });
  app.use('/v1/*', resolver.middleware);
  app.use('*', authenticate({ keys, sessions, access: { issuer: ISSUER, audience: AUDIENCE }, clock }));
  app.route(
    '/',
    authTokenRoutes({
      keys,
      sessions,
      verifyCredentials: identityCredentials({ store: t.store, hasher, clock }),
    }),
  );
  app.get('/v1/guarded', requirePermission('users:manage'), (c) => c.json({ ok: true }));
  app.onError(onError);

  const fixtures = tenantFixtures(t.store, t.engine);
  const tenant = async () => fixtures.create('basic');
  const user = async (tenantId: string, role: TenantRole = 'member') => {
    const email = `${crypto.randomUUID().slice(0, 8)}@example.com`;
    const password = 'correct horse battery staple';
    const result = await registerUser(
      t.store,
      hasher,
      {
        tenantId,
        email,
        name: 'Test User',
        password,
        role,
        via: 'admin',
        maxUsers: null,
        defaultPolicy: 'open',
        at: clock().toISOString(),
      },
      { metadata: { tenantId } },
    );
    return { id: result.state.userId, email, password };
  };
  const request = (
    slug: string,
    path: string,
    init: { json?: unknown; token?: string; method?: string } = {},
  ) => {
    const headers = new Headers({ 'x-tenant': slug });
    if (init.token !== undefined) headers.set('authorization', `Bearer ${init.token}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return app.request(`http://localhost${path}`, {
      method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
      headers,
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });
  };
  const login = async (slug: string, email: string, password: string) => {
    const res = await request(slug, '/v1/auth/login', { json: { email, password } });
    if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as {
      access_token: string;
      refresh_token: string;
      token_type: string;
      expires_in: number;
    };
  };
  return {
    ...t,
    app,
    keys,
    sessions,
    lines,
    clock,
    advance(seconds: number) {
      now += seconds * 1000;
    },
    tenant,
    suspend: (id: string) =>
      fixtures.change(id, { type: 'SuspendTenant', reason: 'unpaid', at: clock().toISOString() }),
    user,
    request,
    login,
  };
}
