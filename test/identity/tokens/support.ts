import type { TenantRole } from '../../../src/commands/identity/permissions.ts';
import { requirePermission } from '../../../src/http/middleware/authorize.ts';
import { testApp } from '../../support/app.ts';
import type { TestDatabase } from '../../support/databases.ts';
import { tenantFixtures } from '../../tenancy/support.ts';

export const ISSUER = 'https://warden.test';
export const AUDIENCE = 'warden-api';
export const ACCESS_TTL = 900;
export const GRACE = 10;

/**
 * The service in-process with the token stack mounted as the lead mounts it — tenant resolution, then
 * authentication, then routes — on a database the test owns, with a clock the test moves.
 */
export async function tokenHarness(fresh: () => Promise<TestDatabase>) {
  let now = Date.parse('2026-03-01T12:00:00Z');
  const clock = () => new Date(now);
  const t = await testApp(fresh, {
    clock,
    env: {
      WARDEN_TOKEN_ISSUER: ISSUER,
      WARDEN_TOKEN_AUDIENCE: AUDIENCE,
      WARDEN_ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TTL),
      WARDEN_REFRESH_GRACE_SECONDS: String(GRACE),
      WARDEN_JWKS_CACHE_SECONDS: '60',
    },
  });
  const { keys, sessions } = t.identity;
  const { app, lines } = t;
  app.get('/v1/guarded', requirePermission('users:manage'), (c) => c.json({ ok: true }));

  const fixtures = tenantFixtures(t.store, t.engine);
  const tenant = async () => fixtures.create('basic');
  const user = async (tenantId: string, role: TenantRole = 'member') => {
    const { userId, email, password } = await t.register({ tenantId, role });
    return { id: userId, email, password };
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
