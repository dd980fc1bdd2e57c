import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../kit/index.ts';
import { validationHook } from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';
import { packageDecisionRoutes } from './packages.ts';
import { policyRoutes } from './policy.ts';
import { packageRequestRoutes } from './requests.ts';
import type { PackageRouteDeps } from './scope.ts';

export { npmTokenRoutes } from './npm-tokens.ts';
export { npmViewRoutes } from './npm-view.ts';
export type { PackageRouteDeps } from './scope.ts';

/**
 * The package firewall's HTTP surface: submit a lockfile, follow the request, list and read
 * packages, approve / reject / waive / retry, and the tenant's policy.
 */
export function packageRoutes(deps: PackageRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.on(
    'GET',
    ['/v1/package-requests', '/v1/package-requests/*', '/v1/packages', '/v1/packages/*', '/v1/policy'],
    requirePermission('packages:read'),
  );
  app.on('POST', '/v1/package-requests', requirePermission('packages:request'));
  app.on(
    'POST',
    ['/v1/package-requests/:id/approve', '/v1/package-requests/:id/reject'],
    requirePermission('packages:approve'),
  );
  app.on('POST', '/v1/packages/*', requirePermission('packages:approve'));
  // Approvers decide packages; setting the policy that decides them is the admins' (separation of duties).
  app.on('PUT', '/v1/policy', requirePermission('packages:manage'));
  app.route('/', packageRequestRoutes(deps));
  app.route('/', packageDecisionRoutes(deps));
  app.route('/', policyRoutes(deps));
  return app;
}
