import type { MiddlewareHandler } from 'hono';
import type { Permission } from '../../commands/identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { problemResponse } from '../kit/index.ts';

/**
 * 401 without a valid token, 403 when the caller's role (narrowed by token scopes) lacks every one
 * of the permissions; the platform superadmin has all of them.
 */
export function requirePermission(...needed: Permission[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (!principal) {
      c.header('WWW-Authenticate', 'Bearer');
      return problemResponse(
        c,
        401,
        'unauthenticated',
        'send a valid access token: Authorization: Bearer <token>',
      );
    }
    if (!needed.some((p) => principal.permissions.has(p))) {
      return problemResponse(c, 403, 'forbidden', `this needs the permission ${needed.join(' or ')}`, {
        required: needed,
      });
    }
    // Kept with an idempotent response: a replay is refused to a caller who no longer passes this check.
    c.set('authorizedBy', [...(c.get('authorizedBy') ?? []), needed]);
    return next();
  };
}

/**
 * On `/v1/tenants/{id}…`: a tenant's own people may act only on their tenant, and a request resolved
 * to tenant B may not reach tenant A: both are 404, so ids of other tenants are not even confirmed.
 * The platform superadmin acts on any tenant. Runs before the permission check, so a foreign id never
 * reveals a 403.
 */
export const ownTenantOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = c.req.param('id');
  const principal = c.get('principal');
  const tenant = c.get('tenant');
  if (!principal?.platformSuperadmin) {
    if ((principal && principal.tenantId !== id) || (tenant && tenant.id !== id)) {
      return problemResponse(c, 404, 'not-found', 'tenant not found');
    }
  }
  return next();
};
