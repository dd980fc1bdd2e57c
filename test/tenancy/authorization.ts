import { expect } from 'vitest';
import { type Permission, permissionsOf, tenantRoles } from '../../src/commands/identity/permissions.ts';
import type { TestApp } from '../support/app.ts';

/** Every caller the matrix knows: each tenant role, and the platform superadmin. */
export const callers = [...tenantRoles, 'superadmin'] as const;
export type Caller = (typeof callers)[number];

/** A request to send: built afresh for every caller, so a delete has something to delete each time. */
export interface RouteCall {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A protected route: how to call it in a tenant, and the permissions of which any one lets it through. */
export interface ProtectedRoute {
  name: string;
  permission: Permission | readonly Permission[];
  /** Makes what the call needs (ids, a thing to delete) in the tenant and returns the request. */
  prepare(tenant: { id: string; slug: string }): Promise<RouteCall> | RouteCall;
  /** Statuses that count as "let through" (default 200, 201, 204). */
  ok?: readonly number[];
  /** A rule beyond the matrix: of the callers holding the permission, only these are let through. */
  only?: readonly Caller[];
}

export type Send = (
  call: RouteCall & { as: Caller; tenant: { id: string; slug: string } },
) => Promise<Response>;

/**
 * Sends as a caller of `tenant` with a real access token: one user per (tenant, role), registered and
 * logged in on first use; the platform superadmin is a user of a tenant of its own, whose token acts in
 * every tenant. The tenant is named with X-Tenant, as tenant resolution expects.
 */
export function sender(t: TestApp): Send {
  const tokens = new Map<string, Promise<string>>();
  const tokenOf = (as: Caller, tenant: { slug: string }) => {
    const key = as === 'superadmin' ? as : `${tenant.slug}:${as}`;
    let token = tokens.get(key);
    if (!token) {
      token = (as === 'superadmin' ? t.superadmin() : t.user({ tenant: tenant.slug, role: as })).then(
        (u) => u.token,
      );
      tokens.set(key, token);
    }
    return token;
  };
  return async ({ method, path, body, headers, as, tenant }) =>
    await t.request(path, {
      method,
      token: await tokenOf(as, tenant),
      tenant: tenant.slug,
      ...(headers ? { headers } : {}),
      ...(body === undefined ? {} : { json: body }),
    });
}

const allows = (caller: Caller, needed: ProtectedRoute['permission']) => {
  const held = caller === 'superadmin' ? permissionsOf('owner', true) : permissionsOf(caller);
  return (typeof needed === 'string' ? [needed] : needed).some((p) => held.has(p));
};

/**
 * Sends every route as every caller of `tenant` and checks the answer against the permission matrix:
 * an allowed caller gets one of the route's ok statuses, any other gets 403 problem+json. Returns the
 * table of outcomes (route × caller → status) so a test can also print or snapshot it.
 */
export async function expectMatrix(
  send: Send,
  tenant: { id: string; slug: string },
  routes: readonly ProtectedRoute[],
): Promise<Record<string, Record<Caller, number>>> {
  const table: Record<string, Record<Caller, number>> = {};
  for (const route of routes) {
    const row = {} as Record<Caller, number>;
    for (const caller of callers) {
      const call = await route.prepare(tenant);
      const res = await send({ ...call, as: caller, tenant });
      row[caller] = res.status;
      const where = `${route.name} as ${caller}: ${await res.clone().text()}`;
      if (allows(caller, route.permission) && (route.only ?? callers).includes(caller)) {
        expect(route.ok ?? [200, 201, 204], where).toContain(res.status);
      } else {
        expect(res.status, where).toBe(403);
        expect(res.headers.get('content-type'), where).toBe('application/problem+json');
      }
    }
    table[route.name] = row;
  }
  return table;
}

/**
 * Asks for tenant A's things through tenant B, as B's most powerful tenant role (owner): every route
 * must answer 404, as if A's ids did not exist, and leave A unchanged (the caller checks that).
 */
export async function expectForeignIdsNotFound(
  send: Send,
  owner: { id: string; slug: string },
  intruder: { id: string; slug: string },
  routes: readonly ProtectedRoute[],
): Promise<void> {
  for (const route of routes) {
    const call = await route.prepare(owner);
    const res = await send({ ...call, as: 'owner', tenant: intruder });
    expect(res.status, `${route.name} from another tenant: ${await res.clone().text()}`).toBe(404);
  }
}
