import type { MiddlewareHandler } from 'hono';
import { expect } from 'vitest';
import type { AppEnv } from '../../src/http/env.ts';
import {
  type Permission,
  permissionsOf,
  type TenantRole,
  tenantRoles,
} from '../../src/identity/permissions.ts';

/** Every caller the matrix knows: each tenant role, and the platform superadmin. */
export const callers = [...tenantRoles, 'superadmin'] as const;
export type Caller = (typeof callers)[number];

/**
 * Stands in for the authentication middleware until real tokens land: `X-Test-Role` and
 * `X-Test-Tenant` become the principal. Mount it only in tests, before the routes under test.
 */
export function testPrincipal(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const role = c.req.header('x-test-role') as Caller | undefined;
    const tenantId = c.req.header('x-test-tenant');
    if (role && tenantId) {
      const superadmin = role === 'superadmin';
      const tenantRole: TenantRole = superadmin ? 'owner' : role;
      c.set('principal', {
        userId: `user-${role}`,
        tenantId,
        role: tenantRole,
        platformSuperadmin: superadmin,
        permissions: permissionsOf(tenantRole, superadmin),
        tokenId: crypto.randomUUID(),
        tokenExpiresAt: new Date(Date.now() + 15 * 60_000),
      });
    }
    await next();
  };
}

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
}

export type Send = (
  call: RouteCall & { as: Caller; tenant: { id: string; slug: string } },
) => Promise<Response>;

/** Sends as a caller of `tenant`, naming the tenant with X-Tenant (as tenant resolution expects). */
export function sender(
  request: (path: string, init: RequestInit & { json?: unknown }) => Response | Promise<Response>,
): Send {
  return async ({ method, path, body, headers, as, tenant }) =>
    await request(path, {
      method,
      headers: { 'x-test-role': as, 'x-test-tenant': tenant.id, 'x-tenant': tenant.slug, ...headers },
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
      if (allows(caller, route.permission)) {
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
