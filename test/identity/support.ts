import type { SignupPolicy } from '../../src/commands/identity/index.ts';
import type { TenantRole } from '../../src/commands/identity/permissions.ts';
import type { PlanId } from '../../src/commands/tenancy/plans.ts';
import { owaspArgon2id } from '../../src/identity/passwords.ts';
import { type RequestOptions, testApp } from '../support/app.ts';
import type { TestDatabase } from '../support/databases.ts';

/**
 * The whole app (real tenant resolution, real tokens) with argon2id at OWASP parameters, plus a
 * shorthand for these tests: `caller(tenantId, role?)` names who sends a request. `request` turns it
 * into what a real client sends — `X-Tenant: <slug>` and, with a role, the access token of a user of
 * that role in that tenant (registered and logged in once, on first use). Callers are named
 * `caller-<role>-…@callers.test`, so lists can tell them from the users under test.
 */
export async function usersApp(
  fresh: () => Promise<TestDatabase>,
  defaultSignupPolicy: SignupPolicy = 'open',
) {
  const t = await testApp(fresh, {
    env: {
      WARDEN_DEFAULT_SIGNUP_POLICY: defaultSignupPolicy,
      WARDEN_ARGON2_MEMORY_KIB: String(owaspArgon2id.memoryCost),
      WARDEN_ARGON2_TIME_COST: String(owaspArgon2id.timeCost),
    },
  });
  const slugs = new Map<string, string>();
  const tokens = new Map<string, Promise<string>>();

  /** A new tenant; its id. */
  const tenant = async (plan: PlanId = 'enterprise') => {
    const created = await t.tenant(undefined, plan);
    slugs.set(created.id, created.slug);
    return created.id;
  };

  const tokenOf = (slug: string, role: TenantRole) => {
    const key = `${slug}:${role}`;
    let token = tokens.get(key);
    if (!token) {
      const email = `caller-${role}-${crypto.randomUUID().slice(0, 8)}@callers.test`;
      token = t.user({ tenant: slug, role, email, name: `Caller ${role}` }).then((u) => u.token);
      tokens.set(key, token);
    }
    return token;
  };

  const request = async (
    path: string,
    init: RequestOptions & { caller?: { tenantId: string; role?: TenantRole } } = {},
  ) => {
    const { caller, ...rest } = init;
    if (!caller) return t.request(path, rest);
    const slug = slugs.get(caller.tenantId) ?? `unknown-${caller.tenantId.slice(0, 8)}`;
    return t.request(path, {
      ...rest,
      tenant: slug,
      ...(caller.role ? { token: await tokenOf(slug, caller.role) } : {}),
    });
  };

  /** The slug of a tenant `tenant()` made. */
  const slugOf = (tenantId: string) => slugs.get(tenantId) ?? `unknown-${tenantId.slice(0, 8)}`;

  return { ...t, hasher: t.identity.hasher, tenant, slugOf, request };
}
